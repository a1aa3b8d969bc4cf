package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/proxy/secrets/awssm"
)

// The audit sink kinds.
const (
	AuditSinkStdout     = "stdout"
	AuditSinkWebhook    = "webhook"
	AuditSinkSyslog     = "syslog"
	AuditSinkCloudWatch = "cloudwatch"
	AuditSinkFirehose   = "firehose"
	AuditSinkS3         = "s3"
)

// The on_sink_failure policies.
const (
	AuditBlock = "block"
	AuditDrop  = "drop"
)

// Bounds of the audit settings. The defaults live with the code that
// applies them (package auditlog) and are listed in docs/config.md.
const (
	MaxAuditQueueSize          = 1_000_000
	MinAuditQueueSize          = 10
	MaxAuditCheckpointEvery    = 1_000_000
	MinAuditCheckpointInterval = time.Second
	MaxAuditCheckpointInterval = time.Hour
	MaxAuditFlushInterval      = 5 * time.Minute
	MinAuditSinkTimeout        = time.Second
	MaxAuditSinkTimeout        = 5 * time.Minute
)

// auditSinkKinds lists the kinds in the order messages name them, with the
// largest batch each accepts (the service's own limit, or a sane bound).
var auditSinkKinds = []struct {
	kind     string
	maxBatch int
}{
	{AuditSinkStdout, 10000}, {AuditSinkWebhook, 10000}, {AuditSinkSyslog, 10000},
	{AuditSinkCloudWatch, 10000}, {AuditSinkFirehose, 500}, {AuditSinkS3, 100000},
}

var (
	// logGroupName is CloudWatch Logs' alphabet for log group names.
	logGroupName = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	// logStreamPrefix leaves room for the 32-digit chain id in CloudWatch's
	// 512-character stream names, which cannot hold ':' or '*'.
	logStreamPrefix = regexp.MustCompile(`^[^:*\x00-\x1f]{0,400}$`)
	// deliveryStreamName is Firehose's alphabet for stream names.
	deliveryStreamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)
	// bucketName is S3's general purpose bucket naming rule.
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// keyPrefix is a safe S3 key prefix: visible ASCII, no leading slash.
	keyPrefix = regexp.MustCompile(`^([!-~]{1,512})?$`)
)

// audit checks a tenant's audit block: its keys (references resolved by
// the tenant's own secrets provider, like every tenant secret), policy,
// checkpoints, queue and each sink.
func (v *validator) audit(path string, a Audit, s Secrets, awsUsable, dev bool) {
	v.tenantRef(path+".key_ref", a.KeyRef, s, awsUsable, dev)
	// Optional for now, so configs written before checkpoints stay valid;
	// without it the trail is chained but unsigned, and an attacker who can
	// rewrite the store can rewrite the chain (docs/audit.md).
	if a.SigningKeyRef != "" {
		v.tenantRef(path+".signing_key_ref", a.SigningKeyRef, s, awsUsable, dev)
	}
	switch a.OnSinkFailure {
	case "", AuditBlock, AuditDrop:
	default:
		v.add(path+".on_sink_failure", fmt.Sprintf("unknown policy %q (block, drop)", a.OnSinkFailure))
	}
	if a.CheckpointEvery < 0 || a.CheckpointEvery > MaxAuditCheckpointEvery {
		v.add(path+".checkpoint_every", fmt.Sprintf("must be between 1 and %d", MaxAuditCheckpointEvery))
	}
	if a.CheckpointInterval != 0 && (a.CheckpointInterval.D() < MinAuditCheckpointInterval || a.CheckpointInterval.D() > MaxAuditCheckpointInterval) {
		v.add(path+".checkpoint_interval", fmt.Sprintf("must be between %s and %s", MinAuditCheckpointInterval, MaxAuditCheckpointInterval))
	}
	if a.SigningKeyRef == "" {
		if a.CheckpointEvery != 0 {
			v.add(path+".checkpoint_every", "has no effect without signing_key_ref")
		}
		if a.CheckpointInterval != 0 {
			v.add(path+".checkpoint_interval", "has no effect without signing_key_ref")
		}
	}
	if a.QueueSize != 0 && (a.QueueSize < MinAuditQueueSize || a.QueueSize > MaxAuditQueueSize) {
		v.add(path+".queue_size", fmt.Sprintf("must be between %d and %d", MinAuditQueueSize, MaxAuditQueueSize))
	}
	names := map[string]bool{}
	for i, sk := range a.Sinks {
		at := fmt.Sprintf("%s.sinks[%d]", path, i)
		v.auditSink(at, sk, s, awsUsable, dev)
		name := sk.Name
		if name == "" {
			name = sk.Kind
		} else {
			v.id(at+".name", sk.Name)
		}
		if names[name] {
			if sk.Name == "" {
				v.add(at+".name", fmt.Sprintf("required: another sink is already called %q", name))
			} else {
				v.add(at+".name", fmt.Sprintf("sink %q listed twice", name))
			}
		}
		names[name] = true
	}
}

// auditSink checks one sink: its kind's fields present and valid, every
// other kind's fields absent.
func (v *validator) auditSink(path string, sk AuditSink, s Secrets, awsUsable, dev bool) {
	maxBatch := 0
	var kinds []string
	for _, k := range auditSinkKinds {
		kinds = append(kinds, k.kind)
		if k.kind == sk.Kind {
			maxBatch = k.maxBatch
		}
	}
	if maxBatch == 0 {
		if sk.Kind == "" {
			v.add(path+".kind", "required ("+strings.Join(kinds, ", ")+")")
		} else {
			v.add(path+".kind", fmt.Sprintf("unknown kind %q (%s)", sk.Kind, strings.Join(kinds, ", ")))
		}
		return
	}
	if sk.BatchSize < 0 || sk.BatchSize > maxBatch {
		v.add(path+".batch_size", fmt.Sprintf("must be between 1 and %d for kind %q", maxBatch, sk.Kind))
	}
	if sk.FlushInterval < 0 || sk.FlushInterval.D() > MaxAuditFlushInterval {
		v.add(path+".flush_interval", fmt.Sprintf("must be between 0 and %s", MaxAuditFlushInterval))
	}
	if sk.Timeout != 0 && (sk.Timeout.D() < MinAuditSinkTimeout || sk.Timeout.D() > MaxAuditSinkTimeout) {
		v.add(path+".timeout", fmt.Sprintf("must be between %s and %s", MinAuditSinkTimeout, MaxAuditSinkTimeout))
	}

	// Each field belongs to some kinds; set on any other, it is a mistake
	// (a typo'd kind, a copied block) that would otherwise be ignored.
	is := func(kinds ...string) bool {
		for _, k := range kinds {
			if sk.Kind == k {
				return true
			}
		}
		return false
	}
	onlyFor := func(field string, set bool, kinds ...string) {
		if set && !is(kinds...) {
			v.add(path+"."+field, fmt.Sprintf("only for kind %s", strings.Join(quoteAll(kinds), " or ")))
		}
	}
	aws := []string{AuditSinkCloudWatch, AuditSinkFirehose, AuditSinkS3}
	onlyFor("url", sk.URL != "", AuditSinkWebhook)
	onlyFor("hmac_key_ref", sk.HMACKeyRef != "", AuditSinkWebhook)
	onlyFor("allow_insecure_http", sk.AllowInsecureHTTP, AuditSinkWebhook)
	onlyFor("address", sk.Address != "", AuditSinkSyslog)
	onlyFor("facility", sk.Facility != 0, AuditSinkSyslog)
	onlyFor("tls", sk.TLS != nil, AuditSinkWebhook, AuditSinkSyslog)
	// webhook and syslog take a region too: the region (regions[].name)
	// where the receiver runs, checked with the residency rules.
	onlyFor("region", sk.Region != "", append([]string{AuditSinkWebhook, AuditSinkSyslog}, aws...)...)
	onlyFor("endpoint", sk.Endpoint != "", aws...)
	onlyFor("log_group", sk.LogGroup != "", AuditSinkCloudWatch)
	onlyFor("log_stream_prefix", sk.LogStreamPrefix != "", AuditSinkCloudWatch)
	onlyFor("delivery_stream", sk.DeliveryStream != "", AuditSinkFirehose)
	onlyFor("bucket", sk.Bucket != "", AuditSinkS3)
	onlyFor("prefix", sk.Prefix != "", AuditSinkS3)
	onlyFor("path_style", sk.PathStyle, AuditSinkS3)

	switch sk.Kind {
	case AuditSinkWebhook:
		v.webhookURL(path+".url", sk)
		v.tenantRef(path+".hmac_key_ref", sk.HMACKeyRef, s, awsUsable, dev)
	case AuditSinkSyslog:
		host, port, err := net.SplitHostPort(sk.Address)
		if n, perr := strconv.Atoi(port); sk.Address == "" {
			v.add(path+".address", "required (host:port of the collector)")
		} else if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			v.add(path+".address", "must be host:port")
		}
		if sk.Facility < 0 || sk.Facility > 23 {
			v.add(path+".facility", "must be between 1 and 23 (default 13, log audit)")
		}
	case AuditSinkCloudWatch, AuditSinkFirehose, AuditSinkS3:
		if !awssm.ValidRegion(sk.Region) {
			v.add(path+".region", "required: an AWS region such as eu-west-1")
		}
		if sk.Endpoint != "" {
			v.awsEndpoint(path+".endpoint", sk.Endpoint)
		}
	}
	switch sk.Kind {
	case AuditSinkCloudWatch:
		if !logGroupName.MatchString(sk.LogGroup) {
			v.add(path+".log_group", "required: 1 to 512 of A-Z a-z 0-9 . - _ / #")
		}
		if !logStreamPrefix.MatchString(sk.LogStreamPrefix) {
			v.add(path+".log_stream_prefix", "at most 400 characters, without ':' or '*'")
		}
	case AuditSinkFirehose:
		if !deliveryStreamName.MatchString(sk.DeliveryStream) {
			v.add(path+".delivery_stream", "required: 1 to 64 of A-Z a-z 0-9 _ . -")
		}
	case AuditSinkS3:
		if !bucketName.MatchString(sk.Bucket) {
			v.add(path+".bucket", "required: an S3 bucket name (3 to 63 of a-z 0-9 . -)")
		}
		if !keyPrefix.MatchString(sk.Prefix) || strings.HasPrefix(sk.Prefix, "/") || strings.Contains(sk.Prefix, "..") {
			v.add(path+".prefix", "at most 512 visible ASCII characters, not starting with '/', without '..'")
		}
	}
	if sk.TLS != nil && is(AuditSinkWebhook, AuditSinkSyslog) {
		if sk.TLS.ServerName != "" && !visible.MatchString(sk.TLS.ServerName) {
			v.add(path+".tls.server_name", "must be a host name")
		}
		if sk.Kind == AuditSinkWebhook && strings.HasPrefix(sk.URL, "http:") {
			v.add(path+".tls", "set for an http:// url")
		}
	}
}

// webhookURL accepts an absolute https URL (http with allow_insecure_http),
// without credentials or fragment. A query is allowed: some receivers take
// a token there; it is never logged.
func (v *validator) webhookURL(path string, sk AuditSink) {
	if sk.URL == "" {
		v.add(path, "required")
		return
	}
	u, err := url.Parse(sk.URL)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		v.add(path, "must be an absolute https URL")
		return
	case u.User != nil:
		v.add(path, "must not carry credentials")
	case u.Fragment != "":
		v.add(path, "must not have a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !sk.AllowInsecureHTTP {
			v.add(path, "http is refused unless allow_insecure_http is set")
		}
	default:
		v.add(path, "scheme must be https")
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
