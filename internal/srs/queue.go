package srs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Item states.
const (
	StateRecording = "recording" // the capture is writing its .part file
	StateComplete  = "complete"  // closed, waiting for upload
)

// Reasons srs gives the server when it stops a capture on its own.
const (
	ReasonPingTimeout = "ping-timeout"
	ReasonLogout      = "logout"
	ReasonDiskFull    = "disk-full"
	ReasonQueueFull   = "queue-full"
	ReasonCrash       = "recovered-after-crash"
	ReasonCapture     = "capture-failed"
	ReasonShutdown    = "service-stopped"
	ReasonSession     = "session-lost"
)

// Item is one screen media file in the upload folder: <name>.json beside
// its media file. Everything the upload needs is in it, so that the queue
// survives restarts.
type Item struct {
	RecordingID string    `json:"recordingId"`
	MediaID     string    `json:"mediaId"`
	State       string    `json:"state"`
	Truncated   bool      `json:"truncated,omitempty"`
	Empty       bool      `json:"empty,omitempty"` // ffmpeg gave nothing: reported stopped, not uploaded
	Encrypted   bool      `json:"encrypted"`
	CertAliases []string  `json:"certAliases,omitempty"`
	File        string    `json:"file"` // the media file's name in the upload folder
	Server      string    `json:"server"`
	UserName    string    `json:"userName"` // the agent, agentID of the entry
	Contact     Contact   `json:"contact"`
	StartTime   time.Time `json:"startTime"`
	StopTime    time.Time `json:"stopTime,omitzero"`
	Layout      Layout    `json:"layout"`
	Masks       []Mask    `json:"masks,omitempty"`

	// StopReason is set when srs stopped the capture on its own; the
	// server is told (POST …/stopped) before the upload, once.
	StopReason    string    `json:"stopReason,omitempty"`
	StopReported  bool      `json:"stopReported,omitempty"`
	MediaUploaded bool      `json:"mediaUploaded,omitempty"`
	Attempts      int       `json:"attempts,omitempty"`
	NextAttempt   time.Time `json:"nextAttempt,omitzero"`
	LastError     string    `json:"lastError,omitempty"`

	name string // the base name of the .json, without the extension
}

// Contact is the agent as the media entry's parameters name them.
type Contact struct {
	UserName  string `json:"userName"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
}

// Mask is a pause or resume of the capture (a PCI black-out).
type Mask struct {
	Time time.Time `json:"time"`
	Type string    `json:"type"` // pause or resume
}

// Layout is how the monitors sit in the captured video: the guide's
// virtualWidth/Height (the video) and originalVirtualWidth/Height (the
// desktop), and each monitor's rectangle [x1, y1, x2, y2] in both.
type Layout struct {
	OriginalWidth  int             `json:"originalWidth"`
	OriginalHeight int             `json:"originalHeight"`
	Width          int             `json:"width"`
	Height         int             `json:"height"`
	Monitors       []MonitorLayout `json:"monitors"`

	planned *plannedLayout // what the ffmpeg capturer planned; not kept in the item
}

// MonitorLayout is one monitor of a Layout.
type MonitorLayout struct {
	Name     string `json:"name"`
	Primary  bool   `json:"primary"`
	Original [4]int `json:"original"`
	Actual   [4]int `json:"actual"`
}

// Queue is the upload folder. Writes of an item's .json are atomic
// (temporary file, fsync, rename), so a crash leaves the old or the new.
type Queue struct {
	dir string
	// mu serialises read-modify-write of items: the recorder, the stop
	// reports and the uploader each change their own fields of one item.
	mu sync.Mutex
	// stopClaims are the items whose stop report is being sent, so that
	// the recorder and the uploader never both send one.
	stopClaims map[string]bool
}

// OpenQueue creates the upload folder and its failed/ subfolder.
func OpenQueue(dir string) (*Queue, error) {
	if err := os.MkdirAll(filepath.Join(dir, failedFolder), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the upload folder: %w", err)
	}
	return &Queue{dir: dir, stopClaims: map[string]bool{}}, nil
}

const failedFolder = "failed"

// Dir is the upload folder.
func (q *Queue) Dir() string { return q.dir }

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,150}$`)

// fileName is the base name of a media id's files: the id itself when it
// is a safe file name, else a hash of it (ids are the server's and may
// hold '/').
func fileName(mediaID string) string {
	if safeName.MatchString(mediaID) && !strings.Contains(mediaID, "..") {
		return mediaID
	}
	sum := sha256.Sum256([]byte(mediaID))
	return "id-" + hex.EncodeToString(sum[:16])
}

// Path is where a file of the item lives.
func (q *Queue) Path(file string) string { return filepath.Join(q.dir, file) }

// Has reports whether the queue holds an item for mediaID (also in failed/).
func (q *Queue) Has(mediaID string) bool {
	name := fileName(mediaID) + ".json"
	for _, p := range []string{filepath.Join(q.dir, name), filepath.Join(q.dir, failedFolder, name)} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// Create writes a new item and returns the path of its media file, which
// the caller creates (.part while recording).
func (q *Queue) Create(it *Item) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	it.name = fileName(it.MediaID)
	if _, err := os.Stat(filepath.Join(q.dir, it.name+".json")); err == nil {
		return fmt.Errorf("cannot queue %s: the upload folder already holds it", it.MediaID)
	}
	return q.save(it)
}

// Save rewrites the item's .json atomically.
func (q *Queue) Save(it *Item) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.save(it)
}

// Update applies change to the item for mediaID as stored, and saves it;
// an item no longer queued is left alone.
func (q *Queue) Update(mediaID string, change func(*Item)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	name := fileName(mediaID)
	b, err := os.ReadFile(filepath.Join(q.dir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var it Item
	if err == nil {
		err = json.Unmarshal(b, &it)
	}
	if err != nil {
		return fmt.Errorf("cannot read the queue item %s: %w", mediaID, err)
	}
	it.name = name
	change(&it)
	return q.save(&it)
}

// errStopBusy: another goroutine is reporting this item's stop.
var errStopBusy = errors.New("the stop of this item is being reported")

// claimStop claims the stop report of mediaID: true when it is due and
// now the caller's to send (then releaseStop must follow), false when
// there is none to send, errStopBusy when another caller sends it.
func (q *Queue) claimStop(mediaID string) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopClaims[mediaID] {
		return false, errStopBusy
	}
	b, err := os.ReadFile(filepath.Join(q.dir, fileName(mediaID)+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	var it Item
	if err == nil {
		err = json.Unmarshal(b, &it)
	}
	if err != nil {
		return false, fmt.Errorf("cannot read the queue item %s: %w", mediaID, err)
	}
	if it.StopReason == "" || it.StopReported {
		return false, nil
	}
	q.stopClaims[mediaID] = true
	return true, nil
}

// releaseStop ends a claim; reported marks the stop as told.
func (q *Queue) releaseStop(mediaID string, reported bool) error {
	q.mu.Lock()
	delete(q.stopClaims, mediaID)
	q.mu.Unlock()
	if !reported {
		return nil
	}
	return q.Update(mediaID, func(x *Item) { x.StopReported = true })
}

func (q *Queue) save(it *Item) error {
	if it.name == "" {
		it.name = fileName(it.MediaID)
	}
	b, err := json.MarshalIndent(it, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the queue item %s: %w", it.MediaID, err)
	}
	if err := writeFileAtomic(filepath.Join(q.dir, it.name+".json"), b); err != nil {
		return fmt.Errorf("cannot save the queue item %s: %w", it.MediaID, err)
	}
	return nil
}

// Remove deletes an uploaded item: its media file, then its .json.
func (q *Queue) Remove(it *Item) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := os.Remove(q.Path(it.File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot delete %s: %w", it.File, err)
	}
	if err := os.Remove(filepath.Join(q.dir, it.name+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot delete the queue item %s: %w", it.MediaID, err)
	}
	syncDir(q.dir)
	return nil
}

// Fail moves an item the server refused for good into failed/, where it is
// kept for a person to look at and never retried.
func (q *Queue) Fail(it *Item, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	it.LastError = reason
	if err := q.save(it); err != nil {
		return err
	}
	failed := filepath.Join(q.dir, failedFolder)
	if err := os.Rename(q.Path(it.File), filepath.Join(failed, it.File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot move %s to failed/: %w", it.File, err)
	}
	if err := os.Rename(filepath.Join(q.dir, it.name+".json"), filepath.Join(failed, it.name+".json")); err != nil {
		return fmt.Errorf("cannot move the queue item %s to failed/: %w", it.MediaID, err)
	}
	syncDir(q.dir)
	syncDir(failed)
	return nil
}

// List reads every item of the upload folder (not failed/), oldest start
// first. Unreadable .json files are returned as errors beside the items.
func (q *Queue) List() ([]*Item, []error) {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, []error{fmt.Errorf("cannot list the upload folder: %w", err)}
	}
	var items []*Item
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(q.dir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot read the queue item %s: %w", e.Name(), err))
			continue
		}
		var it Item
		if err := json.Unmarshal(b, &it); err != nil || it.MediaID == "" || it.File == "" || filepath.Base(it.File) != it.File {
			errs = append(errs, fmt.Errorf("cannot read the queue item %s: not an item srs wrote", e.Name()))
			continue
		}
		it.name = name
		items = append(items, &it)
	}
	sort.SliceStable(items, func(i, j int) bool {
		if !items[i].StartTime.Equal(items[j].StartTime) {
			return items[i].StartTime.Before(items[j].StartTime)
		}
		return items[i].MediaID < items[j].MediaID
	})
	return items, errs
}

// Bytes is the size of everything in the upload folder but failed/.
func (q *Queue) Bytes() int64 {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
	}
	return total
}

// writeFileAtomic writes b to a temporary file beside path, syncs it and
// renames it over path.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes renames in dir durable where the OS allows it (not on
// Windows, where opening a folder for sync fails; NTFS journals renames).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// MediaEntry is the guide's screen media entry, as PUT /recordings/{id}
// merges it.
type MediaEntry struct {
	MediaID    string          `json:"mediaId"`
	Type       string          `json:"type"`
	StartTime  string          `json:"startTime"`
	StopTime   string          `json:"stopTime"`
	Duration   string          `json:"duration"`
	Parameters EntryParameters `json:"parameters"`
	Masks      []EntryMask     `json:"masks"`
}

// EntryParameters are the entry's parameters; sizes are strings, as in the
// guide.
type EntryParameters struct {
	AgentID               string         `json:"agentID"`
	VirtualWidth          string         `json:"virtualWidth"`
	VirtualHeight         string         `json:"virtualHeight"`
	OriginalVirtualWidth  string         `json:"originalVirtualWidth"`
	OriginalVirtualHeight string         `json:"originalVirtualHeight"`
	Monitors              []EntryMonitor `json:"monitors"`
	Contact               Contact        `json:"contact"`
	CallRecordingID       string         `json:"callRecordingId"`
}

// EntryMonitor is one monitor of the entry, positions written "[x1, y1, x2, y2]".
type EntryMonitor struct {
	Name              string `json:"name"`
	Primary           bool   `json:"primary"`
	OriginalPositions string `json:"originalPositions"`
	ActualPositions   string `json:"actualPositions"`
}

// EntryMask is a mask with the time as the guide writes times.
type EntryMask struct {
	Time string `json:"time"`
	Type string `json:"type"`
}

// GuideTime is how the guide's metadata writes times: 2021-07-21T16:49:00.000+0000.
const GuideTime = "2006-01-02T15:04:05.000-0700"

// Entry is the media entry of a complete item.
func (it *Item) Entry() MediaEntry {
	e := MediaEntry{
		MediaID:   it.MediaID,
		Type:      "video/mp4",
		StartTime: it.StartTime.UTC().Format(GuideTime),
		StopTime:  it.StopTime.UTC().Format(GuideTime),
		Duration:  guideDuration(it.StopTime.Sub(it.StartTime)),
		Parameters: EntryParameters{
			AgentID:               it.UserName,
			VirtualWidth:          strconv.Itoa(it.Layout.Width),
			VirtualHeight:         strconv.Itoa(it.Layout.Height),
			OriginalVirtualWidth:  strconv.Itoa(it.Layout.OriginalWidth),
			OriginalVirtualHeight: strconv.Itoa(it.Layout.OriginalHeight),
			Monitors:              []EntryMonitor{},
			Contact:               it.Contact,
			CallRecordingID:       it.RecordingID,
		},
		Masks: []EntryMask{},
	}
	for _, m := range it.Layout.Monitors {
		e.Parameters.Monitors = append(e.Parameters.Monitors, EntryMonitor{
			Name:              m.Name,
			Primary:           m.Primary,
			OriginalPositions: positions(m.Original),
			ActualPositions:   positions(m.Actual),
		})
	}
	for _, m := range it.Masks {
		e.Masks = append(e.Masks, EntryMask{Time: m.Time.UTC().Format(GuideTime), Type: m.Type})
	}
	return e
}

func positions(p [4]int) string {
	return fmt.Sprintf("[%d, %d, %d, %d]", p[0], p[1], p[2], p[3])
}

// guideDuration writes d as the guide's screen entries do: H:MM:SS.
func guideDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int64((d + time.Second/2) / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", secs/3600, secs/60%60, secs%60)
}
