package auditlog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The sink kinds, as configuration names them.
const (
	SinkStdout     = "stdout"
	SinkWebhook    = "webhook"
	SinkSyslog     = "syslog"
	SinkCloudWatch = "cloudwatch"
	SinkFirehose   = "firehose"
	SinkS3         = "s3"
)

// SinkKinds lists every sink kind.
func SinkKinds() []string {
	return []string{SinkStdout, SinkWebhook, SinkSyslog, SinkCloudWatch, SinkFirehose, SinkS3}
}

// kindDefaults are each kind's batch size, flush interval and attempt
// timeout when the configuration leaves them at zero. Interactive sinks
// (stdout, syslog) send at once; services billed or limited per call
// batch for a second or more; S3 makes one object per batch, so it waits
// longest.
var kindDefaults = map[string]struct {
	batch          int
	flush, timeout time.Duration
}{
	SinkStdout:     {100, 0, DefaultSinkTimeout},
	SinkWebhook:    {100, time.Second, DefaultSinkTimeout},
	SinkSyslog:     {100, 0, DefaultSinkTimeout},
	SinkCloudWatch: {1000, time.Second, DefaultSinkTimeout},
	SinkFirehose:   {500, time.Second, DefaultSinkTimeout},
	SinkS3:         {5000, 10 * time.Second, 30 * time.Second},
}

// KindDefaults returns the batch size, flush interval and timeout a sink of
// kind gets when its configuration leaves them at zero.
func KindDefaults(kind string) (batchSize int, flush, timeout time.Duration, ok bool) {
	d, ok := kindDefaults[kind]
	return d.batch, d.flush, d.timeout, ok
}

// SinkConfig is one configured sink with its secrets resolved: the input of
// NewSink. It mirrors the tenant's `audit.sinks[]` entry in the config
// file; fields that do not belong to Kind are ignored (config validation
// refuses them).
type SinkConfig struct {
	Kind string
	// Name labels the sink in Stats; default the kind.
	Name          string
	BatchSize     int
	FlushInterval time.Duration
	Timeout       time.Duration

	// stdout: where the lines go (normally os.Stdout).
	Stdout io.Writer

	// webhook
	URL     string
	HMACKey []byte

	// syslog
	Address  string
	UseTLS   bool
	Facility int

	// webhook and syslog TLS: a PEM file of CA certificates to trust
	// instead of the system's, and the name to verify (default: the host
	// of URL or Address).
	CAFile     string
	ServerName string

	// cloudwatch, firehose, s3
	Region      string
	Endpoint    string
	Credentials aws.CredentialsProvider
	LogGroup    string
	// LogStreamPrefix: cloudwatch; default "ferry-".
	LogStreamPrefix string
	DeliveryStream  string
	Bucket          string
	Prefix          string
	PathStyle       bool
}

// NewSink builds the sink c describes, with its kind's defaults for batch
// size, flush interval and timeout, ready for StreamOptions.Sinks. It does
// not contact the destination (CloudWatch streams are created on first
// use), so a sink that is down at start is retried, not fatal.
func NewSink(ctx context.Context, c SinkConfig) (SinkOptions, error) {
	d, ok := kindDefaults[c.Kind]
	if !ok {
		return SinkOptions{}, fmt.Errorf("auditlog: unknown sink kind %q", c.Kind)
	}
	so := SinkOptions{
		Name: c.Name, BatchSize: c.BatchSize, FlushInterval: c.FlushInterval, Timeout: c.Timeout,
	}
	if so.Name == "" {
		so.Name = c.Kind
	}
	if so.BatchSize == 0 {
		so.BatchSize = d.batch
	}
	if c.FlushInterval == 0 {
		so.FlushInterval = d.flush
	}
	if so.Timeout == 0 {
		so.Timeout = d.timeout
	}
	var err error
	switch c.Kind {
	case SinkStdout:
		w := c.Stdout
		if w == nil {
			w = os.Stdout
		}
		so.Sink = NewJSONLines(w)
	case SinkWebhook:
		var tc *tls.Config
		if tc, err = clientTLS(c.CAFile, c.ServerName); err == nil {
			so.Sink, err = NewWebhook(WebhookOptions{URL: c.URL, Key: c.HMACKey, TLS: tc})
		}
	case SinkSyslog:
		var tc *tls.Config
		if c.UseTLS {
			tc, err = clientTLS(c.CAFile, c.ServerName)
		}
		if err == nil {
			so.Sink, err = NewSyslog(SyslogOptions{Address: c.Address, TLS: tc, Facility: c.Facility})
		}
	case SinkCloudWatch, SinkFirehose, SinkS3:
		var cfg aws.Config
		cfg, err = LoadAWSConfig(ctx, AWSOptions{Region: c.Region, Endpoint: c.Endpoint, Credentials: c.Credentials})
		if err != nil {
			break
		}
		switch c.Kind {
		case SinkCloudWatch:
			so.Sink, err = NewCloudWatch(CloudWatchOptions{AWS: cfg, LogGroup: c.LogGroup, LogStreamPrefix: c.LogStreamPrefix})
		case SinkFirehose:
			so.Sink, err = NewFirehose(FirehoseOptions{AWS: cfg, DeliveryStream: c.DeliveryStream})
		case SinkS3:
			so.Sink, err = NewS3(S3Options{AWS: cfg, Bucket: c.Bucket, Prefix: c.Prefix, PathStyle: c.PathStyle})
		}
	}
	if err != nil {
		return SinkOptions{}, err
	}
	return so, nil
}

// clientTLS is TLS 1.2 or newer, with the CAs of caFile when given.
func clientTLS(caFile, serverName string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("auditlog: ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("auditlog: ca_file holds no PEM certificate")
	}
	tc.RootCAs = pool
	return tc, nil
}
