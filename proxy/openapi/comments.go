package openapi

import (
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
)

// pkgDocs are the doc comments of one package's source, by Go name: what
// reflection cannot see.
type pkgDocs struct {
	types  map[string]string            // type name → doc
	fields map[string]map[string]string // type name → field name → doc and line comment
	// enums are the values of the string constants declared with a named
	// type, by type name, in declaration order.
	enums map[string][]string
	// kindDocs are the doc comments of the FilterKind constants, by value.
	kindDocs map[string]string
	// consts are the exported string constants with a compound name
	// (SystemUCUM), which doc comments may mention instead of their value.
	consts map[string]string
}

// parseDocs reads the doc comments of the Go package in dir (test files
// excluded).
func parseDocs(dir string) (*pkgDocs, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse unified source: %w", err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go source in %s", dir)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/ferryhealth/ferry/unified")
	if err != nil {
		return nil, fmt.Errorf("read unified doc comments: %w", err)
	}
	d := &pkgDocs{
		types:    map[string]string{},
		fields:   map[string]map[string]string{},
		enums:    map[string][]string{},
		consts:   map[string]string{},
		kindDocs: map[string]string{},
	}
	for _, v := range pkg.Consts {
		d.addConsts(v)
	}
	for _, t := range pkg.Types {
		d.types[t.Name] = t.Doc
		for _, v := range t.Consts {
			d.addConsts(v)
		}
		for _, spec := range t.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || ts.Name.Name != t.Name {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			fields := map[string]string{}
			for _, f := range st.Fields.List {
				text := joinComments(f.Doc.Text(), f.Comment.Text())
				for _, n := range f.Names {
					fields[n.Name] = text
				}
			}
			d.fields[t.Name] = fields
		}
	}
	return d, nil
}

// addConsts records the string constants of a const declaration: typed
// ones as the values of their type, compound-named ones for substitution.
func (d *pkgDocs) addConsts(v *doc.Value) {
	for _, spec := range v.Decl.Specs {
		vs, ok := spec.(*ast.ValueSpec)
		if !ok || len(vs.Values) != len(vs.Names) {
			continue
		}
		for i, n := range vs.Names {
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !n.IsExported() {
				continue
			}
			if id, ok := vs.Type.(*ast.Ident); ok {
				d.enums[id.Name] = append(d.enums[id.Name], s)
				if id.Name == "FilterKind" {
					// "FilterID is a record id…" → "a record id…"
					d.kindDocs[s] = strings.TrimPrefix(prose(vs.Doc.Text()), n.Name+" is ")
				}
			}
			if compound(n.Name) {
				d.consts[n.Name] = s
			}
		}
	}
}

// compound reports whether a Go name has two or more capitals (SystemNPI,
// HasMembers): such a word in a comment is an identifier, not English.
func compound(name string) bool {
	n := 0
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			n++
		}
	}
	return n >= 2
}

// joinComments joins a field's doc comment and its line comment into one
// description.
func joinComments(docText, line string) string {
	docText, line = prose(docText), prose(line)
	switch {
	case docText == "":
		return line
	case line == "":
		return docText
	}
	return docText + "\n\n" + line
}

// prose turns comment text into description text: a paragraph's wrapped
// lines become one line, and paragraphs stay apart.
func prose(s string) string {
	var paras []string
	for _, p := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			paras = append(paras, p)
		}
	}
	return strings.Join(paras, "\n\n")
}

// rename rewrites the Go identifiers in a comment as an API client sees
// them: a Go field name of the struct described becomes its JSON name, a
// compound-named constant its value, both in backticks. A field name
// followed by " resource" names a FHIR resource ("a Medication resource")
// and is kept, as is skip (the type's own name, in the type's doc).
func (d *pkgDocs) rename(s string, jsonNames map[string]string, skip string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isIdentStart(s[i]) || (i > 0 && gluedBefore(s[i-1])) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isIdentByte(s[j]) {
			j++
		}
		word := s[i:j]
		repl, ok := "", false
		if !gluedAfter(s[j:]) && word != skip {
			if name, isField := jsonNames[word]; isField && !strings.HasPrefix(s[j:], " resource") {
				repl, ok = name, true
			} else if v, isConst := d.consts[word]; isConst {
				repl, ok = v, true
			}
		}
		if ok {
			b.WriteString("`" + repl + "`")
		} else {
			b.WriteString(word)
		}
		i = j
	}
	return b.String()
}

func isIdentStart(c byte) bool { return 'A' <= c && c <= 'Z' }

func isIdentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// gluedBefore and gluedAfter say whether a word is part of a larger token
// (Content-Type, a path, a Go selector, code in backticks, value[x], a
// possessive), which is left alone.
func gluedBefore(c byte) bool {
	return isIdentByte(c) || strings.IndexByte("-/.`'{[", c) >= 0
}

func gluedAfter(rest string) bool {
	if rest == "" {
		return false
	}
	if c := rest[0]; isIdentByte(c) || strings.IndexByte("-/`'[}", c) >= 0 {
		return true
	}
	return rest[0] == '.' && len(rest) > 1 && isIdentByte(rest[1])
}
