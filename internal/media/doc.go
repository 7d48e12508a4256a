// Package media turns a recording into numbers: it decodes one frame of a
// video file (the first, or the one at a given time) and finds the frame's
// dominant colours.
//
// Decoding is behind the Decoder interface. The implementation here runs
// Debian's ffmpeg as a subprocess on a file: an MP4 whose index (moov) sits
// at the end cannot be decoded from a pipe, so callers always hand over a
// path. The colour analysis is a deterministic k-means++ written here (no
// k-means module is available to kgate), seeded with a fixed seed, run
// several times, keeping the result with the lowest inertia.
package media
