// Package kvs streams Matroska fragments to Amazon Kinesis Video Streams
// with the PutMedia API, which no AWS SDK for Go provides.
//
// The control plane (DescribeStream, CreateStream, GetDataEndpoint) goes
// through aws-sdk-go-v2/service/kinesisvideo. PutMedia itself is one long,
// chunked, full-duplex HTTP/1.1 POST signed with SigV4 over the empty
// payload hash: an Uploader writes the Matroska header and then one Cluster
// per fragment into the request body while it reads the service's
// acknowledgement events (BUFFERING, RECEIVED, PERSISTED, ERROR, IDLE) from
// the response. Fragments stay buffered until they are acknowledged; on an
// ERROR event, a dropped connection or an acknowledgement timeout the
// Uploader reconnects and resends them, staying within the service limits
// (fragments of at most 10 s and 50 MB, at most 5 fragments and 5 PutMedia
// connections per second, 12.5 MB/s).
//
// Credentials come from aws.CredentialsProvider values built here: static
// keys (never printed), the environment, the KVS producer credentials file
// (re-read before it expires) or the standard AWS chain, and refreshable
// ones are renewed two minutes before they expire. When the credentials
// change, the Uploader rotates to a new connection signed with them.
//
// Wire facts: reference/media.md §2.
package kvs
