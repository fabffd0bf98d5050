package analytics

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// keyphrase is one phrase the spotter listens for, with its threshold
// 1e-exponent.
type keyphrase struct {
	text     string
	exponent int
	phones   int
}

// Hit is one phrase the spotter heard on a channel.
type Hit struct {
	Phrase     string
	StartMs    int64
	EndMs      int64
	Confidence float64
}

// spotter is one pocketsphinx_continuous process spotting keyphrases in
// one channel of 16 kHz 16-bit PCM written to it.
type spotter struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	dir    string
	stderr *capped
	done   chan struct{}
	hits   []Hit
	outErr error
}

// startSpotter starts the recogniser on keyphrases. Its dictionary and
// keyphrase list are two small files of the topics' words (pocketsphinx
// reads its dictionary twice, so it cannot come through a pipe); the
// audio comes through its standard input only.
func (e *Engine) startSpotter(ctx context.Context, dict *Dictionary, phrases []keyphrase) (*spotter, error) {
	dir, err := os.MkdirTemp("", "callvault-kws-")
	if err != nil {
		return nil, fmt.Errorf("cannot start the recogniser: %w", err)
	}
	var words []string
	var list strings.Builder
	known := map[string]bool{}
	for _, p := range phrases {
		words = append(words, strings.Fields(p.text)...)
		fmt.Fprintf(&list, "%s /1e-%d/\n", p.text, p.exponent)
		known[p.text] = true
	}
	dictPath, listPath := filepath.Join(dir, "words.dict"), filepath.Join(dir, "phrases.kws")
	err1 := os.WriteFile(dictPath, []byte(dict.subset(words)), 0o600)
	err2 := os.WriteFile(listPath, []byte(list.String()), 0o600)
	if err := errors.Join(err1, err2); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cannot start the recogniser: %w", err)
	}
	args := []string{"-infile", "/dev/stdin", "-samprate", "16000",
		"-hmm", filepath.Join(e.ModelDir, "en-us"), "-dict", dictPath, "-kws", listPath,
		"-time", "yes", "-remove_silence", "no"}
	args = append(args, e.decoderArgs()...)
	cmd := exec.CommandContext(ctx, e.Pocketsphinx, args...)
	cmd.WaitDelay = 2 * time.Second
	sp := &spotter{cmd: cmd, dir: dir, stderr: &capped{limit: 4 << 10}, done: make(chan struct{})}
	cmd.Stderr = sp.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cannot start the recogniser: %w", err)
	}
	if sp.stdin, err = cmd.StdinPipe(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cannot start the recogniser: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cannot start the recogniser %s: %w", e.Pocketsphinx, err)
	}
	go func() {
		defer close(sp.done)
		sp.hits, sp.outErr = parseHits(stdout, known)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return sp, nil
}

// wait ends the audio and returns the hits.
func (sp *spotter) wait() ([]Hit, error) {
	defer os.RemoveAll(sp.dir)
	closeErr := sp.stdin.Close()
	<-sp.done
	err := sp.cmd.Wait()
	if err != nil {
		if tail := sp.stderr.String(); tail != "" {
			err = fmt.Errorf("%w: %s", err, tail)
		}
		return nil, fmt.Errorf("the recogniser failed: %w", err)
	}
	if sp.outErr != nil {
		return nil, fmt.Errorf("cannot read the recogniser's output: %w", sp.outErr)
	}
	if closeErr != nil && !errors.Is(closeErr, os.ErrClosed) {
		return nil, fmt.Errorf("the recogniser stopped reading: %w", closeErr)
	}
	return sp.hits, nil
}

// kill stops the recogniser after a failure elsewhere.
func (sp *spotter) kill() {
	if sp.cmd.Process != nil {
		_ = sp.cmd.Process.Kill()
	}
	sp.stdin.Close()
	<-sp.done
	_ = sp.cmd.Wait()
	os.RemoveAll(sp.dir)
}

// maxHits bounds what is kept of one channel: a phrase spotted more than
// this often in one call is noise, not a topic.
const maxHits = 10000

// parseHits reads pocketsphinx_continuous's output with -time yes: for
// each utterance a line of what it heard, then one line per keyphrase
// heard, "phrase words start end probability" (seconds). Only lines naming
// a known phrase with three numbers are hits; anything else is skipped.
func parseHits(r io.Reader, known map[string]bool) ([]Hit, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var hits []Hit
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		n := len(fields)
		start, err1 := strconv.ParseFloat(fields[n-3], 64)
		end, err2 := strconv.ParseFloat(fields[n-2], 64)
		prob, err3 := strconv.ParseFloat(fields[n-1], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		phrase := strings.Join(fields[:n-3], " ")
		if !known[phrase] || !finite(start, end, prob) || start < 0 || end < start || end > 1e7 {
			continue
		}
		if len(hits) == maxHits {
			break
		}
		hits = append(hits, Hit{Phrase: phrase, StartMs: int64(math.Round(start * 1000)), EndMs: int64(math.Round(end * 1000)),
			Confidence: max(0, min(1, prob))})
	}
	return hits, sc.Err()
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// capped keeps the first limit bytes of the lines written that are not
// pocketsphinx's INFO chatter: its warnings and errors.
type capped struct {
	mu      sync.Mutex
	limit   int
	partial []byte
	buf     []byte
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.keep(c.partial[:i])
		c.partial = c.partial[i+1:]
	}
	if len(c.partial) > 4096 { // a line that never ends
		c.keep(c.partial)
		c.partial = c.partial[:0]
	}
	return len(p), nil
}

func (c *capped) keep(line []byte) {
	text := strings.TrimSpace(string(line))
	if text == "" || strings.HasPrefix(text, "INFO:") {
		return
	}
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, text[:min(room, len(text))]...)
		c.buf = append(c.buf, '\n')
	}
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep(c.partial)
	c.partial = c.partial[:0]
	return strings.ReplaceAll(strings.TrimSpace(string(c.buf)), "\n", "; ")
}
