package awssm

import (
	"fmt"
	"strings"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// Ref is a parsed secret reference.
type Ref struct {
	// ARN is the secret's full ARN, without the field.
	ARN       string
	Partition string
	Region    string
	Account   string
	// Name is the secret's name with its random suffix.
	Name string
	// Field is the JSON field to select, or "" for the whole value.
	Field string
}

const (
	maxRefLen   = 2048
	maxNameLen  = 512
	maxFieldLen = 128
)

// ParseRef parses a reference (see the package doc for the grammar). Every
// error matches secrets.ErrBadRef.
func ParseRef(ref string) (Ref, error) {
	if len(ref) > maxRefLen {
		return Ref{}, badRef("reference too long")
	}
	arn, field, hasField := strings.Cut(ref, "#")
	if hasField && !validField(field) {
		return Ref{}, badRef("field must be 1-128 characters of A-Z a-z 0-9 _ - .")
	}
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return Ref{}, badRef(`not an ARN (want "arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME")`)
	}
	var r Ref
	r.ARN, r.Field = arn, field
	r.Partition, rest, _ = strings.Cut(rest, ":")
	if !validPartition(r.Partition) {
		return Ref{}, badRef("bad partition")
	}
	service, rest, _ := strings.Cut(rest, ":")
	if service != "secretsmanager" {
		return Ref{}, badRef("not a Secrets Manager ARN")
	}
	r.Region, rest, _ = strings.Cut(rest, ":")
	if !ValidRegion(r.Region) {
		return Ref{}, badRef("bad region")
	}
	r.Account, rest, _ = strings.Cut(rest, ":")
	if !validAccount(r.Account) {
		return Ref{}, badRef("account must be 12 digits")
	}
	r.Name, ok = strings.CutPrefix(rest, "secret:")
	if !ok {
		return Ref{}, badRef(`resource must be "secret:NAME"`)
	}
	if !validName(r.Name) {
		return Ref{}, badRef("secret name must be a full name with its 6-character suffix, of A-Z a-z 0-9 / _ + = . @ -")
	}
	return r, nil
}

// ValidateRef parses ref and checks that it may be read by the tenant whose
// region and role ARN are given: same region (residency), same account as
// the role.
func ValidateRef(ref, region, roleARN string) error {
	r, err := ParseRef(ref)
	if err != nil {
		return err
	}
	acct, err := roleAccount(roleARN)
	if err != nil {
		return err
	}
	return r.check(region, acct)
}

func (r Ref) check(region, account string) error {
	if r.Region != region {
		return badRef(fmt.Sprintf("secret is in region %s, not the tenant's region %s", r.Region, region))
	}
	if r.Account != account {
		return badRef(fmt.Sprintf("secret is in account %s, not the account of the tenant's role (%s)", r.Account, account))
	}
	return nil
}

// roleAccount returns the account of an IAM role ARN
// ("arn:aws:iam::123456789012:role/NAME").
func roleAccount(roleARN string) (string, error) {
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !validPartition(parts[1]) || parts[2] != "iam" || parts[3] != "" ||
		!validAccount(parts[4]) || !strings.HasPrefix(parts[5], "role/") || len(parts[5]) == len("role/") {
		return "", badRef(`role ARN must look like "arn:aws:iam::123456789012:role/NAME"`)
	}
	return parts[4], nil
}

// refError is a malformed or refused reference; the reference itself is not
// repeated (the caller has it, and a mistyped secret value pasted into a
// ref field should not travel further).
type refError struct{ why string }

func badRef(why string) error     { return &refError{why} }
func (e *refError) Error() string { return "awssm: " + e.why }
func (e *refError) Unwrap() error { return secrets.ErrBadRef }

func validPartition(s string) bool {
	if s == "aws" {
		return true
	}
	rest, ok := strings.CutPrefix(s, "aws-")
	return ok && rest != "" && len(s) <= 32 && all(rest, func(c byte) bool { return c >= 'a' && c <= 'z' || c == '-' })
}

// ValidRegion reports whether s looks like an AWS region name (us-east-1,
// us-gov-west-1, ap-southeast-2).
func ValidRegion(s string) bool {
	if len(s) < 6 || len(s) > 32 {
		return false
	}
	i := strings.LastIndexByte(s, '-')
	if i < 0 || i == len(s)-1 || !all(s[i+1:], isDigit) {
		return false
	}
	// Two or more words of a-z, the first of two letters.
	words, rest := 0, s[:i]
	for {
		w, more, found := strings.Cut(rest, "-")
		if w == "" || !all(w, func(c byte) bool { return c >= 'a' && c <= 'z' }) || words == 0 && len(w) != 2 {
			return false
		}
		words++
		if !found {
			return words >= 2
		}
		rest = more
	}
}

func validAccount(s string) bool { return len(s) == 12 && all(s, isDigit) }

func validName(s string) bool {
	if len(s) < 8 || len(s) > maxNameLen || s[len(s)-7] != '-' || !all(s[len(s)-6:], isAlnum) {
		return false
	}
	return all(s, func(c byte) bool { return isAlnum(c) || strings.IndexByte("/_+=.@-", c) >= 0 })
}

func validField(s string) bool {
	return s != "" && len(s) <= maxFieldLen && all(s, func(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' })
}

func all(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
