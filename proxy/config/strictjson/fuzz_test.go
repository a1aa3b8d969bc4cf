package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzConfig is shaped like a Ferry configuration but also carries one of
// every kind of destination Decode treats specially, so that the fuzzer
// exercises each against encoding/json.
type fuzzConfig struct {
	Version     int                 `json:"version"`
	Name        string              `json:"name,omitempty"`
	Enabled     *bool               `json:"enabled"`
	Ratio       float32             `json:"ratio"`
	Port        int                 `json:"port,string"`
	Secure      bool                `json:"secure,string"`
	Pair        [2]int8             `json:"pair"`
	Cert        []byte              `json:"cert"`
	Timeout     fuzzDuration        `json:"timeout"`
	Level       *fuzzLevel          `json:"level"`
	Extra       json.RawMessage     `json:"extra"`
	Any         any                 `json:"any"`
	Number      json.Number         `json:"number"`
	Listen      *fuzzListen         `json:"listen"`
	Connections []fuzzConnection    `json:"connections"`
	Labels      map[string]string   `json:"labels"`
	Limits      map[uint16][]uint8  `json:"limits"`
	Levels      map[fuzzLevel]int64 `json:"levels"`
	Ignored     string              `json:"-"`
	fuzzEmbedded
}

type fuzzEmbedded struct {
	Region string   `json:"region"`
	Tags   []string `json:"tags"`
}

type fuzzListen struct {
	Host string `json:"host"`
	Port uint16 `json:"port"`
	TLS  *struct {
		Cert string
		Key  string
	} `json:"tls"`
}

type fuzzConnection struct {
	ID      string              `json:"id"`
	BaseURL string              `json:"base_url"`
	Timeout *fuzzDuration       `json:"timeout"`
	Headers map[string][]string `json:"headers"`
	Retries uint8               `json:"retries"`
	Weight  float64             `json:"weight"`
}

// fuzzDuration is a json.Unmarshaler that takes a Go duration string.
type fuzzDuration struct{ time.Duration }

func (d *fuzzDuration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration must be a string such as "10s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// fuzzLevel is an encoding.TextUnmarshaler, usable as a map key too.
type fuzzLevel int

func (l *fuzzLevel) UnmarshalText(b []byte) error {
	for i, name := range []string{"debug", "info", "warn", "error"} {
		if string(b) == name {
			*l = fuzzLevel(i)
			return nil
		}
	}
	return fmt.Errorf("unknown log level %q", b)
}

// decodeStdStrict is what "encoding/json accepts the document" means here:
// one value, no unknown fields, nothing after it but whitespace.
func decodeStdStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the top-level value (%v)", err)
	}
	return nil
}

// FuzzDecode checks that Decode never panics and agrees with encoding/json
// except in the documented, deliberate cases:
//
//   - if the walk finds no problem at all, encoding/json accepts the
//     document, and Decode's result equals encoding/json's;
//   - if encoding/json accepts the document, every problem the walk reports
//     is one of the deliberate kinds (duplicate key, case-insensitive key
//     match, too many array elements, size or depth limit);
//   - a document with problems leaves the destination untouched.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"version":1,"connections":[{"id":"a","base_url":"https://x","timeout":"10s"}]}`))
	f.Add([]byte(`{"version":1,"version":2}`))
	f.Add([]byte(`{"VERSION":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		walk := check(data, reflect.TypeFor[*fuzzConfig]())

		var want fuzzConfig
		stdErr := decodeStdStrict(data, &want)

		var got fuzzConfig
		issues := decode(data, &got)

		for _, is := range issues {
			if !strings.HasPrefix(is.Path, "$") || is.Message == "" {
				t.Errorf("malformed problem %+v", is.Problem)
			}
		}
		if len(walk) == 0 {
			if stdErr != nil {
				t.Fatalf("walk found no problem, encoding/json failed: %v", stdErr)
			}
			if issues != nil {
				t.Fatalf("walk found no problem, Decode returned %v", issues)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode result differs from encoding/json:\n got %#v\nwant %#v", got, want)
			}
			return
		}
		if stdErr == nil {
			for _, is := range walk {
				if !is.kind.deliberate() {
					t.Fatalf("encoding/json accepts the document, Decode reports %v", is.Problem)
				}
			}
		}
		if len(issues) == 0 {
			t.Fatalf("walk found %v, Decode returned none", walk)
		}
		if !reflect.DeepEqual(got, fuzzConfig{}) {
			t.Fatalf("Decode changed the destination despite problems: %#v", got)
		}
	})
}
