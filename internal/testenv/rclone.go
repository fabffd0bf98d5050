package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RcloneSHA256 streams an object ("bucket/key") through `rclone cat`, an
// S3 client independent of ours, into SHA-256.
func (srv *S3Server) RcloneSHA256(t testing.TB, path string) string {
	t.Helper()
	if _, err := exec.LookPath("rclone"); err != nil {
		t.Fatal("rclone is not installed (apt-get install rclone)")
	}
	cmd := exec.Command("rclone", "cat", "minio:"+path)
	for _, kv := range os.Environ() {
		// rclone 1.60's AWS SDK cannot apply a CA bundle to its own
		// transport and refuses to start; MinIO here is plain HTTP.
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") && !strings.HasPrefix(kv, "RCLONE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"RCLONE_CONFIG="+filepath.Join(t.TempDir(), "none.conf"),
		"RCLONE_CONFIG_MINIO_TYPE=s3",
		"RCLONE_CONFIG_MINIO_PROVIDER=Minio",
		"RCLONE_CONFIG_MINIO_ENDPOINT="+srv.Endpoint,
		"RCLONE_CONFIG_MINIO_REGION="+srv.Region,
		"RCLONE_CONFIG_MINIO_ACCESS_KEY_ID="+srv.AccessKeyID,
		"RCLONE_CONFIG_MINIO_SECRET_ACCESS_KEY="+srv.SecretAccessKey,
	)
	h := sha256.New()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = h, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rclone cat minio:%s: %v\n%s", path, err, stderr.String())
	}
	return hex.EncodeToString(h.Sum(nil))
}
