package mllp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// The MLLP framing bytes.
const (
	StartBlock     byte = 0x0B // VT: starts a frame
	EndBlock       byte = 0x1C // FS: ends a frame's content
	CarriageReturn byte = 0x0D // CR: follows EndBlock
)

// DefaultMaxFrame is the largest frame content a Reader accepts when none
// is configured: 4 MiB, several hundred patients' demographics.
const DefaultMaxFrame = 4 << 20

// Protocol errors of Reader, each an *Error of KindProtocol when returned
// by a Client.
var (
	ErrFrameTooLarge  = errors.New("mllp: frame larger than the maximum")
	ErrMissingTrailer = errors.New("mllp: stream ended inside a frame (no 0x1C 0x0D trailer)")
	ErrBadTrailer     = errors.New("mllp: 0x1C not followed by 0x0D")
	ErrNestedStart    = errors.New("mllp: a frame started inside another")
	ErrNoFrame        = errors.New("mllp: too many bytes outside a frame")
	ErrStrayBytes     = errors.New("mllp: stream ended after bytes outside a frame")
)

// AppendFrame appends msg framed for MLLP to dst. It fails when msg holds a
// framing byte (0x0B or 0x1C), which would end or restart the frame early:
// an HL7 message never does.
func AppendFrame(dst, msg []byte) ([]byte, error) {
	if bytes.IndexByte(msg, StartBlock) >= 0 || bytes.IndexByte(msg, EndBlock) >= 0 {
		return dst, errFramingByte
	}
	dst = append(dst, StartBlock)
	dst = append(dst, msg...)
	return append(dst, EndBlock, CarriageReturn), nil
}

var errFramingByte = errors.New("mllp: the message holds a framing byte (0x0B or 0x1C)")

// Reader reads MLLP frames from a stream.
type Reader struct {
	br  *bufio.Reader
	max int
	// consumed counts the bytes taken from the stream by the current (or
	// last) ReadFrame: 0 after an error means the peer sent nothing at all.
	consumed int
}

// NewReader returns a Reader of frames of at most max content bytes
// (DefaultMaxFrame when max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &Reader{br: bufio.NewReaderSize(r, 32<<10), max: max}
}

// ReadFrame returns the content of the next frame, without its framing. It
// returns io.EOF when the stream ends cleanly between frames (after nothing
// but whitespace), and otherwise one of the Err* values of this package or
// the stream's own error (a timeout, a reset). After an error the stream's
// position is unknown: the Reader must not be used again.
//
// The returned slice is the caller's.
func (r *Reader) ReadFrame() ([]byte, error) {
	r.consumed = 0
	garbage := false
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && garbage {
				return nil, ErrStrayBytes
			}
			return nil, err
		}
		r.consumed++
		if b == StartBlock {
			break
		}
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			garbage = true
		}
		if r.consumed > r.max {
			return nil, ErrNoFrame
		}
	}
	var out []byte
	for {
		chunk, err := r.br.ReadSlice(EndBlock)
		r.consumed += len(chunk)
		n := len(chunk)
		if err == nil {
			n-- // the end byte is not content
		}
		if len(out)+n > r.max {
			return nil, ErrFrameTooLarge
		}
		if bytes.IndexByte(chunk[:n], StartBlock) >= 0 {
			return nil, ErrNestedStart
		}
		out = append(out, chunk[:n]...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil, ErrMissingTrailer
		}
		return nil, err
	}
	b, err := r.br.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrMissingTrailer
		}
		return nil, err
	}
	r.consumed++
	if b != CarriageReturn {
		return nil, ErrBadTrailer
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// Buffered returns how many bytes the Reader holds that no frame has
// consumed yet.
func (r *Reader) Buffered() int { return r.br.Buffered() }
