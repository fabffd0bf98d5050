package blob_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"callvault/internal/blob/blobtest"
	"callvault/internal/testenv"
	"callvault/internal/vault"
)

// The blob contract on S3, as MinIO serves it.
func TestS3Conformance(t *testing.T) {
	location := testenv.S3Bucket(t)
	blobtest.Run(t, func(t *testing.T) vault.BlobStore { return openDir(t, location) })
}

// A large media file streams to S3 as a multipart upload of 5 MiB parts:
// parts reach the server while the writer is still open, and the writer
// never holds more than its bounded buffer. Then an independent client,
// rclone, reads back exactly the bytes written, under the bucket prefix
// the blob URL sets (the object key rcbs is given as storageKey).
func TestS3MultipartStreaming(t *testing.T) {
	const (
		partSize = 5 << 20
		// The transfer manager's first 16 MiB read plus three part
		// buffers (see blob.go): what the writer may hold at most.
		maxHeld = 16<<20 + 3*partSize
		midway  = 48 << 20
	)
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	s := openDir(t, srv.URL(bucket)+"&prefix=media/")
	ctx := context.Background()
	const key = "acme/REC1/m.mp4/0a1b2c3d4e5f6a7b"
	objectKey := "media/" + key

	w, err := s.NewWriter(ctx, key, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	written := sha256.New()
	src := io.TeeReader(blobtest.NewPattern(5), written)
	if _, err := io.CopyN(w, src, midway); err != nil {
		t.Fatalf("Write: %v", err)
	}

	uploads, err := srv.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(objectKey)})
	if err != nil || len(uploads.Uploads) != 1 {
		t.Fatalf("ListMultipartUploads = %v, %v; want one upload in progress", uploads, err)
	}
	parts, err := srv.Client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(objectKey), UploadId: uploads.Uploads[0].UploadId})
	if err != nil {
		t.Fatal(err)
	}
	var uploaded int64
	for _, p := range parts.Parts {
		if aws.ToInt64(p.Size) != partSize {
			t.Errorf("part %d: %d bytes, want %d", aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size), partSize)
		}
		uploaded += aws.ToInt64(p.Size)
	}
	held := midway - uploaded
	t.Logf("after writing %d MiB: %d parts (%d MiB) on the server, %d MiB held by the writer", midway>>20, len(parts.Parts), uploaded>>20, held>>20)
	if held > maxHeld {
		t.Errorf("after writing %d MiB only %d MiB reached the server: the writer holds %d MiB, want at most %d", midway>>20, uploaded>>20, held>>20, maxHeld>>20)
	}

	if _, err := io.CopyN(w, src, blobtest.LargeSize-midway); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	head, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(objectKey)})
	if err != nil {
		t.Fatal(err)
	}
	// A multipart object's ETag ends in "-<number of parts>".
	if etag := strings.Trim(aws.ToString(head.ETag), `"`); !strings.HasSuffix(etag, "-13") {
		t.Errorf("ETag %s: want a multipart upload of 13 parts", etag)
	}

	if got, want := srv.RcloneSHA256(t, bucket+"/"+objectKey), hex.EncodeToString(written.Sum(nil)); got != want {
		t.Errorf("rclone read sha256 %s, want %s", got, want)
	}
}

// A cancelled write leaves nothing in the bucket: no object and no
// unfinished multipart upload, whose parts S3 would keep (and bill)
// without listing them.
func TestS3CancelledUploadLeavesNoParts(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	s := openDir(t, srv.URL(bucket))
	const key = "acme/REC1/m.mp4/cancelled"
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.NewWriter(ctx, key, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(w, blobtest.NewPattern(3), 40<<20); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Errorf("Close after cancel: err = %v, want context.Canceled", err)
	}
	uploads, err := srv.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, up := range uploads.Uploads {
		t.Errorf("multipart upload of %s left behind", aws.ToString(up.Key))
	}
	if _, err := s.Size(context.Background(), key); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Size after a cancelled write: err = %v, want ErrNotFound", err)
	}
}
