package mllp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func frame(s string) string { return "\x0b" + s + "\x1c\r" }

// readAll reads frames until an error, returning the frames and the error.
func readAll(r *Reader) ([]string, error) {
	var out []string
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, string(f))
	}
}

// chunkReader returns its chunks one Read at a time, as a peer's separate
// writes arrive.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if n < len(c.chunks[0]) {
		c.chunks[0] = c.chunks[0][n:]
	} else {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func TestReadFrame(t *testing.T) {
	msg1 := "MSH|^~\\&|A|B\rMSA|AA|1\r"
	msg2 := "MSH|^~\\&|C|D\rMSA|AE|2\r"
	for _, c := range []struct {
		name   string
		in     io.Reader
		max    int
		frames []string
		err    error
	}{
		{"one frame", strings.NewReader(frame(msg1)), 0, []string{msg1}, io.EOF},
		{"empty frame", strings.NewReader(frame("")), 0, []string{""}, io.EOF},
		{"empty stream", strings.NewReader(""), 0, nil, io.EOF},
		{"two frames in one read", strings.NewReader(frame(msg1) + frame(msg2)), 0, []string{msg1, msg2}, io.EOF},
		{"one byte per read", iotest.OneByteReader(strings.NewReader(frame(msg1) + frame(msg2))), 0, []string{msg1, msg2}, io.EOF},
		{"split inside the content", &chunkReader{[]string{"\x0bMSH|^~", "\\&|A|B\rMSA|AA|1\r\x1c\r"}}, 0, []string{msg1}, io.EOF},
		{"split before the start byte", &chunkReader{[]string{"", "\x0b", msg1 + "\x1c\r"}}, 0, []string{msg1}, io.EOF},
		{"split between 0x1C and 0x0D", &chunkReader{[]string{"\x0b" + msg1 + "\x1c", "\r"}}, 0, []string{msg1}, io.EOF},
		{"second frame split across reads", &chunkReader{[]string{frame(msg1) + "\x0bMSH|^~", "\\&|C|D\rMSA|AE|2\r\x1c\r"}}, 0, []string{msg1, msg2}, io.EOF},
		{"whitespace between frames", strings.NewReader(frame(msg1) + "\r\n" + frame(msg2) + "\n"), 0, []string{msg1, msg2}, io.EOF},
		{"garbage before the start byte", strings.NewReader("HTTP/1.1 400\r\n" + frame(msg1)), 0, []string{msg1}, io.EOF},
		{"garbage then end of stream", strings.NewReader(frame(msg1) + "junk"), 0, []string{msg1}, ErrStrayBytes},
		{"too much garbage", strings.NewReader(strings.Repeat("x", 101) + frame(msg1)), 100, nil, ErrNoFrame},
		{"missing trailer", strings.NewReader("\x0b" + msg1), 0, nil, ErrMissingTrailer},
		{"missing trailer after a frame", strings.NewReader(frame(msg1) + "\x0b" + msg2), 0, []string{msg1}, ErrMissingTrailer},
		{"0x1C then end of stream", strings.NewReader("\x0b" + msg1 + "\x1c"), 0, nil, ErrMissingTrailer},
		{"0x1C not followed by 0x0D", strings.NewReader("\x0b" + msg1 + "\x1cX" + frame(msg2)), 0, nil, ErrBadTrailer},
		{"start byte inside a frame", strings.NewReader("\x0b" + msg1 + frame(msg2)), 0, nil, ErrNestedStart},
		{"frame of exactly the maximum", strings.NewReader(frame(strings.Repeat("a", 100))), 100, []string{strings.Repeat("a", 100)}, io.EOF},
		{"oversize frame", strings.NewReader(frame(strings.Repeat("a", 101))), 100, nil, ErrFrameTooLarge},
		{"oversize across buffer refills", strings.NewReader(frame(strings.Repeat("a", 100_000))), 50_000, nil, ErrFrameTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			frames, err := readAll(NewReader(c.in, c.max))
			if !equalFrames(frames, c.frames) {
				t.Errorf("frames %q, want %q", frames, c.frames)
			}
			if !errors.Is(err, c.err) {
				t.Errorf("error %v, want %v", err, c.err)
			}
		})
	}
}

func equalFrames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// endless is a peer that starts a frame and never ends it.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	if e.n == 0 {
		p[0] = StartBlock
		e.n++
		return 1, nil
	}
	for i := range p {
		p[i] = 'a'
	}
	e.n += len(p)
	return len(p), nil
}

// TestReadFrameBounded checks that a peer streaming an endless frame gets an
// error after about the maximum, rather than filling memory.
func TestReadFrameBounded(t *testing.T) {
	src := &endless{}
	_, err := NewReader(src, 1<<20).ReadFrame()
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("error %v, want ErrFrameTooLarge", err)
	}
	if src.n > 1<<20+64<<10 {
		t.Errorf("read %d bytes of a frame capped at 1 MiB", src.n)
	}
}

func TestReadFrameTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = b.Write([]byte("\x0bMSH|partial")) }()
	_ = a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := NewReader(a, 0).ReadFrame()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v, want a deadline error", err)
	}
}

func TestAppendFrame(t *testing.T) {
	got, err := AppendFrame([]byte("x"), []byte("MSH|A\r"))
	if err != nil || string(got) != "x\x0bMSH|A\r\x1c\r" {
		t.Errorf("AppendFrame = %q, %v", got, err)
	}
	for _, bad := range []string{"a\x0bb", "a\x1cb"} {
		if _, err := AppendFrame(nil, []byte(bad)); err == nil {
			t.Errorf("AppendFrame(%q) must fail", bad)
		}
	}
}

// FuzzReader feeds arbitrary streams to the frame reader, split at an
// arbitrary point: it must not panic, every frame must be within the
// maximum and free of framing bytes, and framing the frames again must read
// back the same frames.
//
// Run with: go test ./proxy/mllp -run '^$' -fuzz FuzzReader -fuzztime 30s
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		frame("MSH|A"), frame("a") + frame("b"), "junk" + frame("x"), "\x0b\x1c", "\x0ba\x0bb\x1c\r",
		"\x1c\r", "\x0b" + strings.Repeat("z", 70) + "\x1c\r", "\r\n\x0b\x1c\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		const max = 64
		cut := min(int(split), len(data))
		frames, _ := readAll(NewReader(&chunkReader{[]string{string(data[:cut]), string(data[cut:])}}, max))
		var again bytes.Buffer
		for _, fr := range frames {
			if len(fr) > max {
				t.Fatalf("frame of %d bytes, max %d", len(fr), max)
			}
			b, err := AppendFrame(nil, []byte(fr))
			if err != nil {
				t.Fatalf("a frame holds a framing byte: %q", fr)
			}
			again.Write(b)
		}
		back, err := readAll(NewReader(&again, max))
		if !errors.Is(err, io.EOF) || !equalFrames(back, frames) {
			t.Fatalf("re-framed frames read back as %q (%v), want %q", back, err, frames)
		}
	})
}
