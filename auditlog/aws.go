package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
)

// AWSOptions say how to reach an AWS service.
type AWSOptions struct {
	// Region is the service's region. Required.
	Region string
	// Endpoint overrides the service endpoint (a VPC endpoint, or moto in
	// tests); "" uses AWS's.
	Endpoint string
	// Credentials, when set, are used as they are (for example a tenant's
	// assumed role); otherwise the SDK's default chain (the pod's IAM role).
	Credentials aws.CredentialsProvider
}

// LoadAWSConfig builds the SDK configuration for o.
func LoadAWSConfig(ctx context.Context, o AWSOptions) (aws.Config, error) {
	if o.Region == "" {
		return aws.Config{}, errors.New("auditlog: aws: region is required")
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(o.Region)}
	if o.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("auditlog: aws config: %w", err)
	}
	if o.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(o.Endpoint)
	}
	// The SDK's own log lines would land in Ferry's stderr unstructured;
	// every failure comes back as an error, which the Emitter logs.
	cfg.Logger = logging.Nop{}
	return cfg, nil
}

// CloudWatch Logs limits on one PutLogEvents call.
const (
	cwMaxEvents = 10000
	cwMaxBytes  = 1048576
	cwOverhead  = 26 // bytes counted per event on top of its message
)

// CloudWatchOptions configure NewCloudWatch.
type CloudWatchOptions struct {
	AWS      aws.Config
	LogGroup string
	// LogStreamPrefix starts the name of each chain's log stream, which is
	// the prefix and the chain id. Default "ferry-".
	LogStreamPrefix string
}

// CloudWatchSink writes each chain to its own CloudWatch Logs stream in an
// existing log group, creating the stream on the chain's first batch. One
// stream per chain keeps a stream single-writer, and because the queue
// raises event times so they never go backwards, CloudWatch's time order is
// the chain's seq order.
type CloudWatchSink struct {
	client *cloudwatchlogs.Client
	group  string
	prefix string

	mu      sync.Mutex
	created map[string]bool
}

var (
	_ BatchSink    = (*CloudWatchSink)(nil)
	_ BatchLimiter = (*CloudWatchSink)(nil)
)

// NewCloudWatch returns a CloudWatch Logs sink.
func NewCloudWatch(o CloudWatchOptions) (*CloudWatchSink, error) {
	if o.LogGroup == "" {
		return nil, errors.New("auditlog: cloudwatch: log group is required")
	}
	if o.LogStreamPrefix == "" {
		o.LogStreamPrefix = "ferry-"
	}
	return &CloudWatchSink{
		client: cloudwatchlogs.NewFromConfig(o.AWS), group: o.LogGroup, prefix: o.LogStreamPrefix,
		created: map[string]bool{},
	}, nil
}

// LogStreamName is the stream a chain is written to.
func (s *CloudWatchSink) LogStreamName(chainID string) string { return s.prefix + chainID }

// BatchLimits implements BatchLimiter: bytes are kept well under the API's
// limit, which also counts 26 bytes per event.
func (s *CloudWatchSink) BatchLimits() (int, int) { return cwMaxEvents, 900_000 }

// WriteBatch implements BatchSink.
func (s *CloudWatchSink) WriteBatch(ctx context.Context, b *Batch) error {
	if b == nil || len(b.Records) == 0 {
		return errNilBatch
	}
	stream := s.LogStreamName(b.ChainID)
	if err := s.ensureStream(ctx, stream); err != nil {
		return err
	}
	recs := b.Records
	for len(recs) > 0 {
		// Split defensively should a batch exceed the API's limits.
		n, size := 0, 0
		for n < len(recs) && n < cwMaxEvents {
			l := len(recs[n].Line) + cwOverhead
			if n > 0 && size+l > cwMaxBytes {
				break
			}
			size += l
			n++
		}
		events := make([]cwtypes.InputLogEvent, n)
		for i, r := range recs[:n] {
			events[i] = cwtypes.InputLogEvent{Message: aws.String(string(r.Line)), Timestamp: aws.Int64(r.Time.UnixMilli())}
		}
		// Events CloudWatch rejects for their time (older than its
		// retention allows, more than two hours ahead) come back in
		// RejectedLogEventsInfo and cannot be fixed by retrying; the queue
		// stamps times at emit, so that needs a backlog of days.
		if _, err := s.client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String(s.group), LogStreamName: aws.String(stream), LogEvents: events,
		}); err != nil {
			// The stream (or its group) is gone: deleted by someone, or
			// the group recreated. The retry creates it again.
			var gone *cwtypes.ResourceNotFoundException
			if errors.As(err, &gone) {
				s.mu.Lock()
				delete(s.created, stream)
				s.mu.Unlock()
			}
			return fmt.Errorf("auditlog: cloudwatch PutLogEvents: %w", err)
		}
		recs = recs[n:]
	}
	return nil
}

func (s *CloudWatchSink) ensureStream(ctx context.Context, stream string) error {
	s.mu.Lock()
	done := s.created[stream]
	s.mu.Unlock()
	if done {
		return nil
	}
	_, err := s.client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(s.group), LogStreamName: aws.String(stream),
	})
	var exists *cwtypes.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("auditlog: cloudwatch CreateLogStream: %w", err)
	}
	s.mu.Lock()
	s.created[stream] = true
	s.mu.Unlock()
	return nil
}

// Close implements BatchSink; the client holds nothing to release.
func (s *CloudWatchSink) Close() error { return nil }

// Firehose limits on one PutRecordBatch call.
const (
	fhMaxRecords = 500
	fhMaxBytes   = 4 << 20
)

// FirehoseOptions configure NewFirehose.
type FirehoseOptions struct {
	AWS            aws.Config
	DeliveryStream string
}

// FirehoseSink puts each event, with its newline, as one record of a
// Kinesis Data Firehose delivery stream (Direct PUT), so the objects
// Firehose writes to S3 are JSON lines. Records Firehose refuses within a
// batch are resent, alone, until the attempt's deadline; Firehose itself
// does not promise order between its buffers, so verify may report
// reorderings across objects, which `--partial` per object avoids.
type FirehoseSink struct {
	client *firehose.Client
	stream string
}

var (
	_ BatchSink    = (*FirehoseSink)(nil)
	_ BatchLimiter = (*FirehoseSink)(nil)
)

// NewFirehose returns a Firehose sink.
func NewFirehose(o FirehoseOptions) (*FirehoseSink, error) {
	if o.DeliveryStream == "" {
		return nil, errors.New("auditlog: firehose: delivery stream is required")
	}
	return &FirehoseSink{client: firehose.NewFromConfig(o.AWS), stream: o.DeliveryStream}, nil
}

// BatchLimits implements BatchLimiter.
func (s *FirehoseSink) BatchLimits() (int, int) { return fhMaxRecords, fhMaxBytes - 64<<10 }

// WriteBatch implements BatchSink.
func (s *FirehoseSink) WriteBatch(ctx context.Context, b *Batch) error {
	if b == nil || len(b.Records) == 0 {
		return errNilBatch
	}
	pending := make([]fhtypes.Record, len(b.Records))
	for i, r := range b.Records {
		data := make([]byte, 0, len(r.Line)+1)
		pending[i] = fhtypes.Record{Data: append(append(data, r.Line...), '\n')}
	}
	pause := 50 * time.Millisecond
	for {
		out, err := s.client.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{
			DeliveryStreamName: aws.String(s.stream), Records: pending,
		})
		if err != nil {
			return fmt.Errorf("auditlog: firehose PutRecordBatch: %w", err)
		}
		if aws.ToInt32(out.FailedPutCount) == 0 {
			return nil
		}
		var again []fhtypes.Record
		for i, rr := range out.RequestResponses {
			if rr.ErrorCode != nil && i < len(pending) {
				again = append(again, pending[i])
			}
		}
		if len(again) == 0 {
			return fmt.Errorf("auditlog: firehose: %d records failed", aws.ToInt32(out.FailedPutCount))
		}
		pending = again
		select {
		case <-ctx.Done():
			return fmt.Errorf("auditlog: firehose: %d records still refused: %w", len(pending), ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// Close implements BatchSink.
func (s *FirehoseSink) Close() error { return nil }

// S3Options configure NewS3.
type S3Options struct {
	AWS    aws.Config
	Bucket string
	// Prefix starts every object key, for example "acme/audit/".
	Prefix string
	// PathStyle addresses the bucket in the path rather than the host
	// name, which S3-compatible stores and moto need.
	PathStyle bool
}

// S3Sink writes each batch as one object of JSON lines. Keys sort by time:
//
//	PREFIX YYYY/MM/DD/HH/ YYYYMMDDTHHMMSS.NNNNNNNNNZ-CHAIN-FIRSTSEQ.jsonl
//
// with the time of the batch's first event (UTC) and FIRSTSEQ zero-padded
// to 20 digits, so listing a prefix gives a chain's objects in seq order.
// A retried batch overwrites its own object (same key), so S3 holds no
// duplicates. Make the bucket's retention (Object Lock) match the tenant's
// audit retention: S3 is where the trail is kept.
type S3Sink struct {
	client *s3.Client
	bucket string
	prefix string
}

var _ BatchSink = (*S3Sink)(nil)

// NewS3 returns an S3 sink.
func NewS3(o S3Options) (*S3Sink, error) {
	if o.Bucket == "" {
		return nil, errors.New("auditlog: s3: bucket is required")
	}
	client := s3.NewFromConfig(o.AWS, func(so *s3.Options) { so.UsePathStyle = o.PathStyle })
	return &S3Sink{client: client, bucket: o.Bucket, prefix: o.Prefix}, nil
}

// S3Key is the object key of a batch whose first event has time t and seq
// firstSeq.
func (s *S3Sink) S3Key(t time.Time, chainID string, firstSeq uint64) string {
	t = t.UTC()
	var b []byte
	b = append(b, s.prefix...)
	b = t.AppendFormat(b, "2006/01/02/15/20060102T150405.000000000Z")
	b = append(b, '-')
	b = append(b, chainID...)
	b = append(b, '-')
	seq := strconv.FormatUint(firstSeq, 10)
	for range 20 - len(seq) {
		b = append(b, '0')
	}
	b = append(b, seq...)
	b = append(b, ".jsonl"...)
	return string(b)
}

// WriteBatch implements BatchSink.
func (s *S3Sink) WriteBatch(ctx context.Context, b *Batch) error {
	if b == nil || len(b.Records) == 0 {
		return errNilBatch
	}
	body := appendLines(make([]byte, 0, linesSize(b.Records)), b.Records)
	key := s.S3Key(b.Records[0].Time, b.ChainID, b.Records[0].Seq)
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String(WebhookContentType),
	}); err != nil {
		return fmt.Errorf("auditlog: s3 PutObject: %w", err)
	}
	return nil
}

// Close implements BatchSink.
func (s *S3Sink) Close() error { return nil }
