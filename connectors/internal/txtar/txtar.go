// Package txtar reads and writes txtar archives: a free-text comment, then
// files, each after a "-- name --" line. The SDK's golden and recorded-upstream
// files use it. It is written here rather than taken from
// golang.org/x/tools/txtar to keep that module out of the SDK's go.mod for
// one small format.
package txtar

import "bytes"

// Archive is a parsed archive.
type Archive struct {
	Comment []byte
	Files   []File
}

// File is one named section.
type File struct {
	Name string
	Data []byte
}

// Parse parses data; it never fails: text before the first marker is the
// comment, and a malformed marker line is content.
func Parse(data []byte) *Archive {
	a := &Archive{}
	cur := &a.Comment
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		if name, ok := marker(bytes.TrimRight(line, "\r\n")); ok {
			a.Files = append(a.Files, File{Name: name})
			cur = &a.Files[len(a.Files)-1].Data
			continue
		}
		*cur = append(*cur, line...)
	}
	return a
}

func marker(line []byte) (string, bool) {
	if !bytes.HasPrefix(line, []byte("-- ")) || !bytes.HasSuffix(line, []byte(" --")) || len(line) < 7 {
		return "", false
	}
	name := bytes.TrimSpace(line[3 : len(line)-3])
	if len(name) == 0 {
		return "", false
	}
	return string(name), true
}

// Get returns the data of the first file called name, or nil.
func (a *Archive) Get(name string) []byte {
	for _, f := range a.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

// Set replaces the data of the file called name, or appends the file.
func (a *Archive) Set(name string, data []byte) {
	for i := range a.Files {
		if a.Files[i].Name == name {
			a.Files[i].Data = data
			return
		}
	}
	a.Files = append(a.Files, File{Name: name, Data: data})
}

// Format renders the archive; each file's data ends with a newline.
func (a *Archive) Format() []byte {
	var b bytes.Buffer
	b.Write(a.Comment)
	if len(a.Comment) > 0 && a.Comment[len(a.Comment)-1] != '\n' {
		b.WriteByte('\n')
	}
	for _, f := range a.Files {
		b.WriteString("-- " + f.Name + " --\n")
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
