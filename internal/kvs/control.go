package kvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// ServiceName is the SigV4 service name of both KVS planes.
const ServiceName = "kinesisvideo"

// StreamRef names a stream by name or ARN (exactly one is set).
type StreamRef struct {
	Name string
	ARN  string
}

func (r StreamRef) String() string {
	if r.ARN != "" {
		return r.ARN
	}
	return r.Name
}

func (r StreamRef) namePtr() *string {
	if r.Name == "" {
		return nil
	}
	return aws.String(r.Name)
}

func (r StreamRef) arnPtr() *string {
	if r.ARN == "" {
		return nil
	}
	return aws.String(r.ARN)
}

// ControlOptions configures NewControl.
type ControlOptions struct {
	// Endpoint overrides the control-plane URL (tests, other partitions).
	Endpoint string
	// HTTPClient is used for control-plane calls; nil means the SDK's.
	HTTPClient *http.Client
}

// Control is the KVS control plane for one region. It is safe for
// concurrent use.
type Control struct {
	client *kinesisvideo.Client
	log    *slog.Logger
	// PollInterval is the longest wait between DescribeStream calls while
	// a stream is being created (default 1 s; the first waits are shorter).
	PollInterval time.Duration
}

// NewControl returns a control-plane client using cfg's region and
// credentials.
func NewControl(cfg aws.Config, o ControlOptions, log *slog.Logger) *Control {
	c := kinesisvideo.NewFromConfig(cfg, func(ko *kinesisvideo.Options) {
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
		if o.HTTPClient != nil {
			ko.HTTPClient = o.HTTPClient
		}
	})
	return &Control{client: c, log: log, PollInterval: time.Second}
}

// StreamInfo is what Prepare learned about a stream.
type StreamInfo struct {
	Name           string
	ARN            string
	RetentionHours int32
	Created        bool
}

// CreateOptions are used when Prepare creates a missing stream.
type CreateOptions struct {
	RetentionHours int32
	MediaType      string
}

// ErrStreamNotFound reports a stream that does not exist (and was not to be
// created).
var ErrStreamNotFound = errors.New("kinesis video stream not found")

// Prepare makes sure the stream exists and is ACTIVE: it describes it,
// creates it when create is non-nil and it is missing, and waits (up to
// wait) while it is being created or updated.
func (c *Control) Prepare(ctx context.Context, ref StreamRef, create *CreateOptions, wait time.Duration) (StreamInfo, error) {
	deadline := time.Now().Add(wait)
	created := false
	poll := max(c.PollInterval/4, time.Millisecond)
	for {
		out, err := c.client.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: ref.namePtr(), StreamARN: ref.arnPtr()})
		var nf *types.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
			if create == nil || ref.Name == "" {
				return StreamInfo{}, fmt.Errorf("%w: %s (use --create-stream to create it)", ErrStreamNotFound, ref)
			}
			if created {
				break // eventual consistency: describe again
			}
			if err := c.create(ctx, ref.Name, *create); err != nil {
				return StreamInfo{}, err
			}
			created = true
		case err != nil:
			return StreamInfo{}, fmt.Errorf("describing stream %s: %w", ref, err)
		default:
			si := out.StreamInfo
			if si == nil {
				return StreamInfo{}, fmt.Errorf("describing stream %s: empty answer", ref)
			}
			switch si.Status {
			case types.StatusActive:
				info := StreamInfo{Name: aws.ToString(si.StreamName), ARN: aws.ToString(si.StreamARN),
					RetentionHours: aws.ToInt32(si.DataRetentionInHours), Created: created}
				c.log.Info("kvs stream ready", "stream", info.Name, "arn", info.ARN, "retention_hours", info.RetentionHours, "created", created)
				return info, nil
			case types.StatusDeleting:
				return StreamInfo{}, fmt.Errorf("stream %s is being deleted", ref)
			}
			c.log.Info("waiting for kvs stream", "stream", ref.String(), "status", string(si.Status))
		}
		if time.Now().After(deadline) {
			return StreamInfo{}, fmt.Errorf("stream %s did not become ACTIVE within %s", ref, wait)
		}
		select {
		case <-ctx.Done():
			return StreamInfo{}, ctx.Err()
		case <-time.After(poll):
		}
		poll = min(2*poll, c.PollInterval)
	}
}

func (c *Control) create(ctx context.Context, name string, o CreateOptions) error {
	mt := o.MediaType
	if mt == "" {
		mt = "video/h264"
	}
	_, err := c.client.CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String(name), DataRetentionInHours: aws.Int32(o.RetentionHours), MediaType: aws.String(mt),
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil // created concurrently by someone else
	}
	if err != nil {
		return fmt.Errorf("creating stream %s: %w", name, err)
	}
	c.log.Info("created kvs stream", "stream", name, "retention_hours", o.RetentionHours, "media_type", mt)
	return nil
}

// DataEndpoint asks GetDataEndpoint for the stream's PutMedia endpoint.
func (c *Control) DataEndpoint(ctx context.Context, ref StreamRef) (string, error) {
	out, err := c.client.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{
		APIName: types.APINamePutMedia, StreamName: ref.namePtr(), StreamARN: ref.arnPtr(),
	})
	if err != nil {
		return "", fmt.Errorf("getting the PutMedia endpoint of %s: %w", ref, err)
	}
	ep := aws.ToString(out.DataEndpoint)
	if ep == "" {
		return "", fmt.Errorf("getting the PutMedia endpoint of %s: empty DataEndpoint", ref)
	}
	return ep, nil
}
