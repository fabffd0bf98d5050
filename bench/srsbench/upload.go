package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"callvault/bench/internal/benchkit"
	"callvault/internal/httpx"
	"callvault/internal/srs"
)

// uploadRun is one synthetic upload.
type uploadRun struct {
	Client string        `json:"client"` // "srs" (internal/srs.Client.PutMedia) or "curl"
	Round  int           `json:"round"`
	Bytes  int64         `json:"bytes"`
	Wall   time.Duration `json:"wallNs"` // from the request's start to its answer
	MBps   float64       `json:"MBps"`
	// ServeCPU is the server's CPU time (user + system) during the upload:
	// it decrypts a CMS upload it holds the key of, for the content hash.
	ServeCPU time.Duration `json:"serveCpuNs"`
	// ClientCPU is curl's CPU time; srs's client runs inside this program
	// and is not counted.
	ClientCPU time.Duration `json:"clientCpuNs,omitempty"`
}

const uploadRecording = "upload-bench"

// uploadComparison PUTs one synthetic CMS file as application/pkcs7-mime,
// b.o.uploadRounds times each by srs's client and by curl, alternating;
// each upload gets a media id of its own (a stored id would only be
// hashed and compared, not stored).
func (b *bench) uploadComparison(ctx context.Context) ([]uploadRun, error) {
	plain := filepath.Join(b.dir, "synthetic.plain")
	file := filepath.Join(b.dir, "synthetic.bin")
	progress("making a %d MB synthetic CMS file", b.o.uploadMB)
	if err := writeRandom(plain, b.o.uploadMB*1e6); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, b.bin, "encrypt", "-in", plain, "-out", file, "-recip", b.certPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("callvault encrypt: %v: %s", err, out)
	}
	os.Remove(plain)
	defer os.Remove(file)
	info, err := os.Stat(file)
	if err != nil {
		return nil, err
	}

	// srs's client, as srs's uploader uses it (a session of its own).
	client := srs.NewClient(b.base+"/api/v2", srs.NewHTTPClient(srs.ProxySettings{}))
	if _, err := client.Login(ctx, adminLogin, adminPassword); err != nil {
		return nil, err
	}
	// curl gets a session of its own through the same login.
	session, csrf, err := b.login(ctx)
	if err != nil {
		return nil, err
	}
	var runs []uploadRun
	for round := 1; round <= b.o.uploadRounds; round++ {
		clients := []string{"srs", "curl"}
		if round%2 == 0 {
			clients = []string{"curl", "srs"}
		}
		for _, who := range clients {
			mediaID := fmt.Sprintf("synthetic-%s-%d.mp4", who, round)
			u := uploadRun{Client: who, Round: round, Bytes: info.Size()}
			user0, sys0, err := benchkit.ProcCPU(b.vault.pid)
			if err != nil {
				return runs, err
			}
			started := time.Now()
			switch who {
			case "srs":
				err = putWithClient(ctx, client, file, info.Size(), mediaID)
			case "curl":
				u.ClientCPU, err = b.putWithCurl(ctx, file, mediaID, session, csrf)
			}
			u.Wall = time.Since(started)
			if err != nil {
				return runs, fmt.Errorf("%s: %w", who, err)
			}
			user1, sys1, _ := benchkit.ProcCPU(b.vault.pid)
			u.ServeCPU = user1 + sys1 - user0 - sys0
			u.MBps = float64(u.Bytes) / 1e6 / u.Wall.Seconds()
			progress("upload %d by %s: %.1f MB in %v, %.0f MB/s (serve CPU %v)", round, who, float64(u.Bytes)/1e6,
				u.Wall.Round(time.Millisecond), u.MBps, u.ServeCPU)
			runs = append(runs, u)
		}
	}
	return runs, nil
}

func putWithClient(ctx context.Context, client *srs.Client, path string, size int64, mediaID string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return client.PutMedia(ctx, srs.MediaUpload{RecordingID: uploadRecording, MediaID: mediaID, Body: f, Size: size, Encrypted: true})
}

// putWithCurl is `curl -T` of the file to the same URL with the headers
// srs's client sends.
func (b *bench) putWithCurl(ctx context.Context, path, mediaID, session, csrf string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "curl", "-sS", "--noproxy", "*", "-T", path,
		"-H", "Content-Type: application/pkcs7-mime", "-H", "X-Media-Type: video/mp4", "-H", "Accept: application/json",
		"-H", "X-CSRF-TOKEN: "+csrf, "-b", httpx.SessionCookie+"="+session,
		"-H", "Expect:", // no 100-continue round trip; srs's client does not wait for one either
		"-o", "/dev/null", "-w", "%{http_code}",
		b.base+"/api/v2/recordings/"+uploadRecording+"/media/"+mediaID)
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("curl: %w", err)
	}
	if code := strings.TrimSpace(string(out)); code != strconv.Itoa(http.StatusCreated) {
		return 0, fmt.Errorf("curl: status %s", code)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// login opens a session as the administrator: the cookie's value and the
// CSRF token.
func (b *bench) login(ctx context.Context) (session, csrf string, err error) {
	body, _ := json.Marshal(map[string]string{"userName": adminLogin, "password": adminPassword})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/api/v2/login", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := b.client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	var info struct {
		CSRFToken string `json:"csrfToken"`
	}
	if res.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("login: status %d", res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
		return "", "", err
	}
	for _, c := range res.Cookies() {
		if c.Name == httpx.SessionCookie {
			session = c.Value
		}
	}
	if session == "" || info.CSRFToken == "" {
		return "", "", errors.New("login: no session cookie or CSRF token")
	}
	return session, info.CSRFToken, nil
}

// writeRandom writes size bytes of a ChaCha8 stream to path.
func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var seed [32]byte
	_, err = io.Copy(f, io.LimitReader(rand.NewChaCha8(seed), size))
	return errors.Join(err, f.Close())
}
