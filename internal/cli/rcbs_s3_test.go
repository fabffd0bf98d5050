package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"callvault/internal/testenv"
)

// s3Settings is the backup settings answer of a server that keeps its
// media in S3 at endpoint.
func s3Settings(bucket, region, endpoint string) map[string]any {
	return map[string]any{"mediaSource": "s3", "tenant": "acme",
		"s3": map[string]any{"bucket": bucket, "prefix": "acme/", "region": region, "endpoint": endpoint}}
}

// mediaRequests lists the media reads the hostile server got.
func (h *hostileServer) mediaRequests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, p := range h.paths {
		if strings.Contains(p, "/media/") {
			out = append(out, p)
		}
	}
	return out
}

// TestRCBSS3EndpointFromServer: the S3 endpoint comes from the server's
// backup settings, so rcbs uses it only when it is awsEndpoint. A server
// that names another one (here a witness on another loopback port) gets
// neither a signed request sent there nor a silent fall back to the web
// service: the run, and -verify s3, fail with one line that names the
// endpoint and says how to trust it.
func TestRCBSS3EndpointFromServer(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDRCBSTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "rcbs-test-secret")
	for _, tc := range []struct {
		name  string
		pairs []string
		says  string
	}{
		{"awsEndpoint not set", nil, "awsEndpoint is not set in config.properties"},
		{"awsEndpoint elsewhere", []string{"awsEndpoint", "http://127.0.0.1:1"}, "awsEndpoint in config.properties is http://127.0.0.1:1"},
	} {
		for _, verify := range []bool{false, true} {
			name := tc.name
			if verify {
				name += ", -verify s3"
			}
			t.Run(name, func(t *testing.T) {
				h := newHostileServer(t)
				wt := newWitness(t)
				h.settings = s3Settings("media", "us-east-1", wt.url)
				h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: []byte("cms bytes"), certAlias: "c1", storageKey: "acme/R1/m.mp3/1"})
				target := filepath.Join(t.TempDir(), "target")
				pairs := tc.pairs
				if verify {
					pairs = append(pairs, "maxDate", "2026-02-10", "minDate", "2026-02-11")
					cfg := rcbsConfig(t, append([]string{"gwsUriPrefix", h.url + "/api/v2", "targetDir", filepath.ToSlash(target)}, pairs...)...)
					r := runRCBS(t, rcbsPassword, nil, "-config", cfg, "-verify", "s3")
					if r.code != 1 {
						t.Errorf("exit %d, want 1", r.code)
					}
					wantOneErrorLine(t, r, "the server names the S3 endpoint "+wt.url, tc.says, "set awsEndpoint="+wt.url+" in config.properties")
					if strings.Contains(r.stdout, "Successfully Verified") {
						t.Errorf("-verify s3 says it verified:\n%s", r.stdout)
					}
				} else {
					r, _ := hostileRun(t, h, target, nil, pairs...)
					if r.code != 1 {
						t.Errorf("exit %d, want 1", r.code)
					}
					wantOneErrorLine(t, r, "the server names the S3 endpoint "+wt.url, tc.says, "set awsEndpoint="+wt.url+" in config.properties")
					if _, err := os.Stat(target); err == nil {
						t.Errorf("targetDir was created: %v", filesUnder(t, target))
					}
				}
				if seen, auths := wt.requests(); len(seen)+len(auths) > 0 {
					t.Errorf("the server's endpoint got %v with Authorization %v", seen, auths)
				}
				if got := h.mediaRequests(); len(got) > 0 {
					t.Errorf("rcbs fell back to the web service for %v", got)
				}
			})
		}
	}
}

// TestRCBSS3TrustedEndpoint: with awsEndpoint naming the endpoint the
// server gives (in another case, with a trailing slash), media are read
// from that S3 store (the test's MinIO) and not through the web service.
func TestRCBSS3TrustedEndpoint(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	data := []byte("the stored, encrypted bytes of m.mp3")
	const key = "acme/R1/m.mp3/1"
	if _, err := srv.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	h := newHostileServer(t)
	h.settings = s3Settings(bucket, srv.Region, srv.Endpoint)
	h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: data, certAlias: "c1", storageKey: key})
	target := t.TempDir()
	r, logText := hostileRun(t, h, target, nil, "awsEndpoint", strings.ToUpper(srv.Endpoint)+"/")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(hostileDir(target, "acme", "R1", hostileStop), "m.mp3")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("m.mp3: %q, %v", b, err)
	}
	if got := h.mediaRequests(); len(got) > 0 {
		t.Errorf("media came through the web service: %v", got)
	}
	if !strings.Contains(logText, "media come straight from S3") {
		t.Errorf("the log does not say media come from S3:\n%s", logText)
	}
	cfg := rcbsConfig(t, "gwsUriPrefix", h.url+"/api/v2", "targetDir", filepath.ToSlash(target), "awsEndpoint", srv.Endpoint)
	if r := runRCBS(t, rcbsPassword, nil, "-config", cfg, "-verify", "s3"); r.code != 0 || !strings.Contains(r.stdout, "Successfully Verified Connection to "+bucket+"/acme/") {
		t.Errorf("-verify s3: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
