package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Server is the S3-compatible store (MinIO) that .ci/services.sh
// starts, with a client of its own for setting up and checking tests.
type S3Server struct {
	Endpoint        string // e.g. http://127.0.0.1:9100
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	Client          *s3.Client
}

// MinIO returns the S3 server of the test environment. Without it the
// test fails: CI never skips a real service.
func MinIO(t testing.TB) *S3Server {
	t.Helper()
	srv := &S3Server{
		Endpoint:        os.Getenv("CALLVAULT_TEST_S3_ENDPOINT"),
		Region:          os.Getenv("AWS_REGION"),
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
	}
	if srv.Endpoint == "" || srv.Region == "" || srv.AccessKeyID == "" || srv.SecretAccessKey == "" {
		t.Fatal("MinIO is not configured (CALLVAULT_TEST_S3_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): run source .ci/services.sh")
	}
	srv.Client = s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKeyID, srv.SecretAccessKey, ""),
	})
	return srv
}

// NewBucket creates a bucket of a fresh name and removes it, with all
// it holds, when the test ends.
func (srv *S3Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := newStorageName()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := srv.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("cannot create bucket %s on %s (run source .ci/services.sh): %v", name, srv.Endpoint, err)
	}
	t.Cleanup(func() {
		if err := srv.removeBucket(name); err != nil {
			t.Errorf("cannot remove bucket %s: %v", name, err)
		}
	})
	return name
}

// URL is the blob.Open URL of bucket on this server: gocloud's s3blob
// with the endpoint, its region and path-style addressing (MinIO serves
// buckets under the path, not as host names). Credentials come from the
// AWS_* environment.
func (srv *S3Server) URL(bucket string) string {
	q := url.Values{}
	q.Set("endpoint", srv.Endpoint)
	q.Set("region", srv.Region)
	q.Set("use_path_style", "true")
	return "s3://" + bucket + "?" + q.Encode()
}

// S3Bucket creates a fresh bucket on MinIO, removed when the test ends,
// and returns its s3:// URL for blob.Open.
func S3Bucket(t testing.TB) string {
	t.Helper()
	srv := MinIO(t)
	return srv.URL(srv.NewBucket(t))
}

// removeBucket empties a bucket (objects and unfinished multipart
// uploads) and deletes it.
func (srv *S3Server) removeBucket(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bucket := aws.String(name)
	objects := s3.NewListObjectsV2Paginator(srv.Client, &s3.ListObjectsV2Input{Bucket: bucket})
	for objects.HasMorePages() {
		page, err := objects.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, obj := range page.Contents {
			if _, err := srv.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: obj.Key}); err != nil {
				return err
			}
		}
	}
	uploads, err := srv.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket})
	if err != nil {
		return err
	}
	for _, up := range uploads.Uploads {
		_, err := srv.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: up.Key, UploadId: up.UploadId})
		var missing *s3types.NoSuchUpload
		if err != nil && !errors.As(err, &missing) {
			return err
		}
	}
	_, err = srv.Client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket})
	return err
}

// AzuriteContainer creates a container of a fresh name on the Azurite that
// .ci/services.sh starts, removed when the test ends, and returns its
// azblob:// URL for blob.Open: plain HTTP, the emulator's address as the
// domain and localemu=true, which puts the account name in the path
// (http://127.0.0.1:10100/devstoreaccount1/…) as Azurite wants. The
// account and key come from AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY.
func AzuriteContainer(t testing.TB) string {
	t.Helper()
	host := os.Getenv("CALLVAULT_TEST_AZURITE")
	account := os.Getenv("AZURE_STORAGE_ACCOUNT")
	key := os.Getenv("AZURE_STORAGE_KEY")
	if host == "" || account == "" || key == "" {
		t.Fatal("Azurite is not configured (CALLVAULT_TEST_AZURITE, AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY): run source .ci/services.sh")
	}
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		t.Fatalf("AZURE_STORAGE_KEY: %v", err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential("http://"+host+"/"+account, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := newStorageName()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.CreateContainer(ctx, name, nil); err != nil {
		t.Fatalf("cannot create container %s on Azurite at %s (run source .ci/services.sh): %v", name, host, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := client.DeleteContainer(ctx, name, nil); err != nil {
			t.Errorf("cannot remove container %s: %v", name, err)
		}
	})
	q := url.Values{}
	q.Set("protocol", "http")
	q.Set("domain", host)
	q.Set("localemu", "true")
	return "azblob://" + name + "?" + q.Encode()
}

// newStorageName is a fresh bucket or container name: lower-case letters,
// digits and hyphens, as both S3 and Azure require.
func newStorageName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "callvault-test-" + hex.EncodeToString(b[:])
}
