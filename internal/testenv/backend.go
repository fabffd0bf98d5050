package testenv

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BackendEnv names the environment variable that chooses the backends of
// the end-to-end tests: unset (or "sqlite-files") for the embedded
// defaults, "postgres-minio" for PostgreSQL and a MinIO bucket. .ci/test
// runs the end-to-end suites once with each.
const BackendEnv = "CALLVAULT_TEST_BACKEND"

// Backends are the metadata and media locations of one test's server.
type Backends struct {
	DB, Blob string // server.Config.DB and .Blob; "" means the defaults in the data directory
	s3       *S3Server
	bucket   string
}

// Backend returns the backends the environment asks for, fresh for this
// test (a new database and bucket, removed at the end).
func Backend(t testing.TB) *Backends {
	t.Helper()
	switch v := os.Getenv(BackendEnv); v {
	case "", "sqlite-files":
		return &Backends{}
	case "postgres-minio":
		srv := MinIO(t)
		bucket := srv.NewBucket(t)
		return &Backends{DB: Postgres(t), Blob: srv.URL(bucket) + "&prefix=media/", s3: srv, bucket: bucket}
	default:
		t.Fatalf("%s=%q: use sqlite-files or postgres-minio", BackendEnv, v)
		return nil
	}
}

// Objects lists every stored media object, temporary ones included, of a
// server whose data directory is dataDir: files under dataDir/media, or
// the keys of the bucket.
func (b *Backends) Objects(t testing.TB, dataDir string) []string {
	t.Helper()
	var out []string
	if b.s3 == nil {
		filepath.WalkDir(filepath.Join(dataDir, "media"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, path)
			}
			return nil
		})
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pages := s3.NewListObjectsV2Paginator(b.s3.Client, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("cannot list bucket %s: %v", b.bucket, err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	// Unfinished multipart uploads are half-written objects too.
	uploads, err := b.s3.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(b.bucket)})
	if err != nil {
		t.Fatalf("cannot list the uploads of bucket %s: %v", b.bucket, err)
	}
	for _, u := range uploads.Uploads {
		out = append(out, "unfinished upload of "+aws.ToString(u.Key))
	}
	return out
}
