package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"callvault/internal/httpx"
	"callvault/internal/record"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// pageSize is the number of rows of one search page.
const pageSize = 50

type searchForm struct {
	From, To, Caller, Dialed, Agent, Partition, MediaType string
	// Speech analytics: a topic or category found, a silence at least
	// MinSilence seconds long.
	Topic, Category, MinSilence string
}

type searchRow struct {
	ID, Caller, Dialed string
	Start              time.Time
	Duration           time.Duration
	Agents             []string
	MediaTypes         []string
	Custody            service.Custody
}

type searchData struct {
	Form       searchForm
	MediaTypes []string
	// Topics and Categories fill the analytics filters' lists; Lists is
	// false for a user who may not read the configuration (an agent),
	// who gets text fields instead.
	Topics, Categories []string
	Lists              bool
	Rows               []searchRow
	Next               string // URL of the next page, or ""
	First              string // URL of the first page when not on it
}

// formTime reads a datetime-local value (or a date) as UTC.
func formTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, vault.Errorf(vault.EINVALID, "%s %q: give a date and time such as 2021-07-21T16:49", name, v)
}

func (u *UI) search(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "recordings", p.L.T("search_title")
	q := r.URL.Query()
	form := searchForm{From: q.Get("from"), To: q.Get("to"), Caller: strings.TrimSpace(q.Get("caller")),
		Dialed: strings.TrimSpace(q.Get("dialed")), Agent: strings.TrimSpace(q.Get("agent")),
		Partition: strings.TrimSpace(q.Get("partition")), MediaType: q.Get("mediaType"),
		Topic: strings.TrimSpace(q.Get("topic")), Category: strings.TrimSpace(q.Get("category")), MinSilence: strings.TrimSpace(q.Get("minSilence"))}
	data := &searchData{Form: form, MediaTypes: service.MediaTypes()}
	u.analyticsLists(r, p, data)
	p.Data = data
	if q.Get("done") == "deleted" {
		p.Flash = p.L.T("recording_deleted")
		q.Del("done")
	}
	f := vault.SearchFilter{Caller: form.Caller, Dialed: form.Dialed, UserName: form.Agent,
		Partition: form.Partition, MediaType: form.MediaType, Topic: form.Topic, Category: form.Category, Limit: pageSize + 1}
	var err error
	if f.StartFrom, err = formTime(p.L.T("from"), form.From); err == nil {
		f.StartTo, err = formTime(p.L.T("to"), form.To)
	}
	if err == nil {
		f.MinSilenceMs, err = formSeconds(p.L, p.L.T("min_silence"), form.MinSilence)
	}
	if err == nil && form.Partition != "" && !strings.HasPrefix(form.Partition, "/") {
		f.Partition = "/" + form.Partition // partitions are stored as paths
	}
	if c := q.Get("cursor"); c != "" && err == nil {
		f.After, err = httpx.DecodeCursor(c)
	}
	if err != nil {
		p.Error = p.L.T("err_invalid") + " " + vault.ErrorMessage(err)
		u.render(w, http.StatusBadRequest, "search", p)
		return
	}
	recs, _, err := u.svc.Search(r.Context(), p.User, f)
	if err != nil {
		if vault.ErrorCode(err) == vault.EINVALID {
			p.Error = p.L.T("err_invalid") + " " + vault.ErrorMessage(err)
			u.render(w, http.StatusBadRequest, "search", p)
			return
		}
		u.renderError(w, r, p, err)
		return
	}
	more := len(recs) > pageSize
	if more {
		recs = recs[:pageSize]
	}
	custody, err := u.svc.CustodyOf(r.Context(), p.User.Tenant, recs)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	for _, rec := range recs {
		row := searchRow{ID: rec.ID, Caller: rec.CallerPhoneNumber, Dialed: rec.DialedPhoneNumber, Start: rec.StartTime,
			Agents: rec.Agents, MediaTypes: rec.MediaTypes, Custody: custody[rec.ID]}
		if !rec.StartTime.IsZero() && rec.StopTime.After(rec.StartTime) {
			row.Duration = rec.StopTime.Sub(rec.StartTime)
		}
		data.Rows = append(data.Rows, row)
	}
	cursor := ""
	if more {
		last := recs[len(recs)-1]
		cursor = httpx.EncodeCursor(vault.Cursor{StartTime: last.StartTime, ID: last.ID})
	}
	data.Next, data.First = pageLinks("/recordings", q, cursor)
	u.render(w, http.StatusOK, "search", p)
}

// analyticsLists fills the search form's topic and category lists from
// the tenant's configuration, keeping a name the query has that the
// configuration no longer does. A user who may not read it gets none.
func (u *UI) analyticsLists(r *http.Request, p *page, data *searchData) {
	cfg, err := u.svc.AnalyticsConfig(r.Context(), p.User)
	if err != nil {
		if vault.ErrorCode(err) != vault.EFORBIDDEN {
			u.log.Warn("cannot read the analytics configuration", "tenant", p.User.Tenant, "err", err)
		}
		return
	}
	data.Lists = true
	for _, t := range cfg.Topics {
		data.Topics = append(data.Topics, t.Name)
	}
	for _, c := range cfg.Categories {
		data.Categories = append(data.Categories, c.Name)
	}
	if f := data.Form.Topic; f != "" && !slices.Contains(data.Topics, f) {
		data.Topics = append(data.Topics, f)
	}
	if f := data.Form.Category; f != "" && !slices.Contains(data.Categories, f) {
		data.Categories = append(data.Categories, f)
	}
}

// formSeconds reads a number of seconds (a decimal fraction allowed) as
// milliseconds; "" is 0.
func formSeconds(l *Lang, label, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	sec, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(sec) || sec < 0 || sec > 86400 {
		return 0, vault.Errorf(vault.EINVALID, "%s", l.T("err_seconds", label))
	}
	return int64(math.Round(sec * 1000)), nil
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			out[k] = slices.Clone(v)
		}
	}
	return out
}

// pageLinks are a list's links to its next page (from cursor; none when
// cursor is "") and back to its first, keeping the query's filters.
func pageLinks(path string, q url.Values, cursor string) (next, first string) {
	if cursor != "" {
		v := cloneValues(q)
		v.Set("cursor", cursor)
		next = path + "?" + v.Encode()
	}
	if q.Get("cursor") != "" {
		v := cloneValues(q)
		v.Del("cursor")
		first = path + "?" + v.Encode()
	}
	return next, first
}

// dayRange reads a page's from and to day inputs (UTC dates, to
// included; by default the last 30 days, written back) as [start, end),
// and sets p.Error when they are not dates or to is before from.
func (u *UI) dayRange(p *page, from, to *string) (start, end time.Time) {
	today := u.now().UTC().Truncate(24 * time.Hour)
	if *to == "" {
		*to = today.Format(time.DateOnly)
	}
	if *from == "" {
		*from = today.AddDate(0, 0, -29).Format(time.DateOnly)
	}
	start, ferr := time.Parse(time.DateOnly, *from)
	last, terr := time.Parse(time.DateOnly, *to)
	switch {
	case ferr != nil || terr != nil:
		p.Error = p.L.T("err_invalid") + " " + p.L.T("err_date")
	case last.Before(start):
		p.Error = p.L.T("err_before", p.L.T("from_date"), p.L.T("to_date"))
	}
	return start, last.AddDate(0, 0, 1) // the "to" day is included
}

type mediaView struct {
	MediaID, Type, PlayURL string
	Audio, Video           bool
	Size                   int64
	Encrypted              bool
	CertAliases            []string
	Fields                 []field
	// Screen is set for a video: how it was made and its masked periods.
	Screen *screenView
}

// screenView is what the page shows of a screen recording: whether the
// call audio is in it yet, and the periods the agent's screen was masked
// (PCI pauses), as offsets into the video.
type screenView struct {
	// MuxedFrom names the sources of a muxed video (screen, call audio);
	// empty while muxing is pending.
	MuxedFrom []string
	// Duration is the entry's stopTime − startTime; 0 when unknown (the
	// page's script then takes the video's own).
	Duration time.Duration
	Masks    []maskPeriod
}

// maskPeriod is one pause → resume of a screen recording, from the start
// of the video. ToEnd: no resume came, the mask lasts to the end (End is
// the duration, or 0 when that is unknown).
type maskPeriod struct {
	Start, End time.Duration
	ToEnd      bool
}

// screenOf reads a video's mediaFiles entry: its sources and masks. The
// masks' absolute times become offsets from the entry's startTime (the
// video's first frame), clamped to [0, duration]; a pause without a later
// resume lasts to the end; a repeated pause or a resume without a pause
// changes nothing. Without a startTime the masks cannot be placed.
func screenOf(e record.MediaEntry) *screenView {
	sv := &screenView{MuxedFrom: e.MuxedFrom}
	if e.StartTime.IsZero() {
		return sv
	}
	if e.StopTime.After(e.StartTime) {
		sv.Duration = e.StopTime.Sub(e.StartTime)
	}
	clamp := func(t time.Time) time.Duration {
		d := max(t.Sub(e.StartTime), 0)
		if sv.Duration > 0 {
			d = min(d, sv.Duration)
		}
		return d
	}
	var pausedAt time.Time
	for _, m := range e.Masks {
		switch m.Type {
		case vault.ScreenPause:
			if pausedAt.IsZero() {
				pausedAt = m.Time
			}
		case vault.ScreenResume:
			if pausedAt.IsZero() {
				continue
			}
			if p := (maskPeriod{Start: clamp(pausedAt), End: clamp(m.Time)}); p.End > p.Start {
				sv.Masks = append(sv.Masks, p)
			}
			pausedAt = time.Time{}
		}
	}
	if !pausedAt.IsZero() {
		if p := (maskPeriod{Start: clamp(pausedAt), End: sv.Duration, ToEnd: true}); sv.Duration == 0 || p.End > p.Start {
			sv.Masks = append(sv.Masks, p)
		}
	}
	return sv
}

// clock formats an offset into a recording as m:ss, or h:mm:ss from an
// hour on (app.js formats the playhead the same way).
func clock(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// seconds is an offset as the page's data attributes carry it.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

type field struct{ Name, Value string }

type change struct{ Key, Value string }

type timelineItem struct {
	At       time.Time
	Kind     string // joined, left, data, other
	Event    string
	Who      string
	Offset   string // from the start of the call, h:mm:ss
	Added    []change
	Updated  []change
	Deleted  []change
	Other    []change
	Contacts string
}

type recordingData struct {
	ID       string
	Start    time.Time
	Stop     time.Time
	Duration time.Duration
	Caller   string
	Dialed   string
	Agents   []string
	Parts    []string
	Media    []mediaView
	Timeline []timelineItem
	Fields   []field
	Raw      string
	// Custody: the legal holds that keep the recording and whether a
	// backup client has a verified copy of every media file.
	Custody service.Custody
	// Analysis is the speech analytics of the voice file; nil for a
	// recording without one.
	Analysis *analysisView
	// QM is the call's evaluations and the assign form (qm.go).
	QM *recordingQM
}

func (u *UI) recording(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "recordings"
	id := r.PathValue("id")
	rec, media, err := u.svc.Recording(r.Context(), p.User, id)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("recording_title", rec.ID)
	data := &recordingData{ID: rec.ID, Start: rec.StartTime, Stop: rec.StopTime, Caller: rec.CallerPhoneNumber,
		Dialed: rec.DialedPhoneNumber, Agents: rec.Agents, Parts: rec.Partitions}
	if !rec.StartTime.IsZero() && rec.StopTime.After(rec.StartTime) {
		data.Duration = rec.StopTime.Sub(rec.StartTime)
	}
	var doc struct {
		EventHistory []map[string]json.RawMessage `json:"eventHistory"`
		MediaFiles   []map[string]json.RawMessage `json:"mediaFiles"`
	}
	_ = json.Unmarshal(rec.Doc, &doc) // stored documents were validated on the way in
	var top map[string]json.RawMessage
	_ = json.Unmarshal(rec.Doc, &top)
	for _, k := range sortedKeys(top) {
		if v, ok := scalar(top[k]); ok {
			data.Fields = append(data.Fields, field{k, v})
		}
	}
	entries, _ := record.MediaEntries(rec.Doc)
	entryOf := map[string]record.MediaEntry{}
	for _, e := range entries {
		entryOf[e.MediaID] = e
	}
	docMedia := map[string]map[string]json.RawMessage{}
	for _, m := range doc.MediaFiles {
		if id, ok := scalar(m["mediaId"]); ok {
			docMedia[id] = m
		}
	}
	base := "/api/v2/recordings/" + url.PathEscape(rec.ID) + "/play/"
	for _, m := range media {
		// Only the audio and video types the server accepts get a player
		// (the play endpoint serves nothing else inline); any other type
		// (an old row) is named, not linked.
		// (A row without a type is from before types were kept: MP3.)
		playable := m.Type == "" || service.AcceptedMediaType(m.Type)
		mv := mediaView{MediaID: m.MediaID, Type: m.Type, PlayURL: base + url.PathEscape(m.MediaID), Size: m.Size,
			Encrypted: m.Encrypted, CertAliases: m.CertAliases,
			Audio: playable && (m.Type == "" || strings.HasPrefix(m.Type, "audio/")), Video: playable && strings.HasPrefix(m.Type, "video/")}
		for _, k := range sortedKeys(docMedia[m.MediaID]) {
			if v, ok := scalar(docMedia[m.MediaID][k]); ok && k != "mediaId" {
				mv.Fields = append(mv.Fields, field{k, v})
			}
		}
		if mv.Video {
			mv.Screen = screenOf(entryOf[m.MediaID])
		}
		data.Media = append(data.Media, mv)
	}
	data.Timeline = timeline(doc.EventHistory, rec.StartTime)
	data.Analysis = u.analysisOf(r, p, rec.ID, data.Media)
	data.QM = u.qmOfRecording(r, p, rec)
	if data.Analysis != nil && data.Analysis.Player != nil {
		p.StyleNonce = newNonce()
	}
	custody, err := u.svc.CustodyOf(r.Context(), p.User.Tenant, []vault.Recording{*rec})
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	data.Custody = custody[rec.ID]
	if raw, err := json.MarshalIndent(json.RawMessage(rec.Doc), "", "  "); err == nil {
		data.Raw = string(raw)
	}
	p.Data = data
	u.render(w, http.StatusOK, "recording", p)
}

// timeline turns the guide's eventHistory into rows in time order:
// parties joining and leaving, attached data added, updated and deleted.
func timeline(events []map[string]json.RawMessage, start time.Time) []timelineItem {
	var out []timelineItem
	for _, e := range events {
		item := timelineItem{}
		if s, ok := scalar(e["occurredAt"]); ok {
			item.At, _ = record.ParseTime(s)
		}
		item.Event, _ = scalar(e["event"])
		var contact struct {
			UserName    string `json:"userName"`
			PhoneNumber string `json:"phoneNumber"`
			FirstName   string `json:"firstName"`
			LastName    string `json:"lastName"`
		}
		if raw, ok := e["contact"]; ok {
			_ = json.Unmarshal(raw, &contact)
			who := contact.UserName
			if who == "" || who == "UNKNOWN" {
				who = contact.PhoneNumber
			} else if contact.FirstName != "" || contact.LastName != "" {
				who = strings.TrimSpace(contact.FirstName+" "+contact.LastName) + " (" + contact.UserName + ")"
			}
			item.Who = who
		}
		switch strings.ToLower(item.Event) {
		case "joined":
			item.Kind = "joined"
		case "left":
			item.Kind = "left"
		case "data":
			item.Kind = "data"
		default:
			item.Kind = "other"
		}
		var data map[string]json.RawMessage
		if raw, ok := e["data"]; ok && json.Unmarshal(raw, &data) == nil {
			for _, k := range sortedKeys(data) {
				var target *[]change
				switch k {
				case "added":
					target = &item.Added
				case "updated":
					target = &item.Updated
				case "deleted":
					target = &item.Deleted
				default:
					v, _ := scalar(data[k])
					item.Other = append(item.Other, change{k, v})
					continue
				}
				var kv map[string]json.RawMessage
				if json.Unmarshal(data[k], &kv) == nil {
					for _, key := range sortedKeys(kv) {
						v, _ := scalar(kv[key])
						*target = append(*target, change{key, v})
					}
				}
			}
		}
		if !start.IsZero() && !item.At.IsZero() {
			d := item.At.Sub(start)
			sign := ""
			if d < 0 {
				sign, d = "−", -d
			}
			s := int64(d / time.Second)
			item.Offset = fmt.Sprintf("%s%d:%02d:%02d", sign, s/3600, s/60%60, s%60)
		}
		out = append(out, item)
	}
	slices.SortStableFunc(out, func(a, b timelineItem) int { return a.At.Compare(b.At) })
	return out
}

// scalar renders a JSON string, number or literal as text; objects and
// arrays are compact JSON.
func scalar(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	switch raw[0] {
	case '{', '[':
		return "", false
	}
	return string(raw), true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// analysisView is what the recording page shows of a speech analysis:
// its status, the events found (each a link that seeks the player), the
// categories and the talk metrics, and for the waveform player the data
// its script draws.
type analysisView struct {
	Status, Error string
	MediaID       string // the voice file analysed
	PlayURL       string // its play URL; "" when it has no player here
	AudioID       string // its <audio> element's id
	Events        []eventView
	Categories    []string
	Metrics       []metricView
	Legend        []legendItem
	// Player is the waveform's data, as JSON in the page; nil without
	// peaks or without a player of the analysed file.
	Player *playerData
}

type eventView struct {
	Type, Kind, Label, Phrase, Speaker string // Kind: the type in words; Label: the topic, or Kind
	Start, End                         time.Duration
}

type metricView struct {
	Label string
	Value time.Duration
}

// legendItem is a swatch of the waveform's legend; Class names its colour
// (app.css: .sw-<Class>).
type legendItem struct{ Label, Class string }

// playerData is read by analytics.js: the audio element it draws for,
// each channel's peaks (0–100 per WindowMs), the channels' colours and
// the markers (Channel -1: across all channels).
type playerData struct {
	Audio      string          `json:"audio"`
	DurationMs int64           `json:"durationMs"`
	WindowMs   int             `json:"windowMs"`
	Peaks      []vault.Peaks   `json:"peaks"`
	Channels   []playerChannel `json:"channels"`
	Events     []playerEvent   `json:"events"`
}

type playerChannel struct {
	Color string `json:"color"` // agent | customer | left | right | mono: the CSS variable --wave-<color>
	Label string `json:"label"`
}

type playerEvent struct {
	Type    string `json:"type"`
	Label   string `json:"label"`
	StartMs int64  `json:"startMs"`
	EndMs   int64  `json:"endMs"`
	Channel int    `json:"channel"`
}

// analysisOf reads the recording's analysis for its page. A recording
// without a voice file has none (nil); a failure to read it is logged and
// the page shows the rest.
func (u *UI) analysisOf(r *http.Request, p *page, id string, media []mediaView) *analysisView {
	a, err := u.svc.ViewedRecordingAnalysis(r.Context(), p.User, id)
	if err != nil {
		if vault.ErrorCode(err) != vault.ENOTFOUND {
			u.log.Warn("cannot read the analysis", "tenant", p.User.Tenant, "recording", id, "err", err)
		}
		return nil
	}
	v := &analysisView{Status: a.Status, Error: a.Error, MediaID: a.MediaID, Categories: a.Categories}
	for i, m := range media {
		if m.Audio && m.MediaID == a.MediaID {
			v.PlayURL, v.AudioID = m.PlayURL, "audio-"+strconv.Itoa(i)
			break
		}
	}
	if a.Status != vault.AnalysisDone {
		return v
	}
	l := p.L
	channels := a.Channels
	if channels == 0 {
		channels = len(a.Peaks)
	}
	// Which channel is whose: as the analysis was made; for an analysis
	// that does not say, the tenant's agentChannel, which a user who may
	// not read the configuration (an agent) does not get: their legend
	// names the channels only.
	agentChannel := a.AgentChannel
	if cfg, err := u.svc.AnalyticsConfig(r.Context(), p.User); err == nil && agentChannel == "" {
		agentChannel = cfg.Settings.AgentChannel
	}
	var lanes []playerChannel
	switch {
	case channels == 2 && agentChannel != "":
		agent := playerChannel{Color: vault.SpeakerAgent, Label: l.T("legend_speaker", l.Label("speaker_", vault.SpeakerAgent), l.T("channel_"+agentChannel))}
		other := "right"
		if agentChannel == "right" {
			other = "left"
		}
		customer := playerChannel{Color: vault.SpeakerCustomer, Label: l.T("legend_speaker", l.Label("speaker_", vault.SpeakerCustomer), l.T("channel_"+other))}
		lanes = []playerChannel{agent, customer}
		if agentChannel == "right" {
			lanes = []playerChannel{customer, agent}
		}
	case channels == 2:
		lanes = []playerChannel{{Color: "left", Label: l.T("channel_left")}, {Color: "right", Label: l.T("channel_right")}}
	default:
		lanes = []playerChannel{{Color: "mono", Label: l.T("channel_mono")}}
	}
	for _, lane := range lanes {
		v.Legend = append(v.Legend, legendItem{Label: lane.Label, Class: lane.Color})
	}
	for _, t := range []string{vault.EventTopic, vault.EventSilence, vault.EventCrosstalk} {
		v.Legend = append(v.Legend, legendItem{Label: l.T("ev_type_" + t), Class: t})
	}
	laneOf := func(speaker string) int {
		return slices.IndexFunc(lanes, func(c playerChannel) bool { return c.Color == speaker })
	}
	var markers []playerEvent
	for _, e := range a.Events {
		ev := eventView{Type: e.Type, Kind: l.T("ev_type_" + e.Type), Label: l.T("ev_type_" + e.Type), Phrase: e.Phrase,
			Start: time.Duration(e.StartMs) * time.Millisecond, End: time.Duration(e.EndMs) * time.Millisecond}
		if e.Type == vault.EventTopic {
			ev.Label = e.Name
		}
		if e.Speaker != "" {
			ev.Speaker = l.Label("speaker_", e.Speaker)
		}
		v.Events = append(v.Events, ev)
		markers = append(markers, playerEvent{Type: e.Type, Label: ev.Label, StartMs: e.StartMs, EndMs: e.EndMs, Channel: laneOf(e.Speaker)})
	}
	m := a.Metrics
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	if channels == 2 {
		v.Metrics = append(v.Metrics, metricView{l.T("m_agent_talk"), ms(m.AgentTalkMs)}, metricView{l.T("m_customer_talk"), ms(m.CustomerTalkMs)})
	}
	if channels != 2 || m.UnknownTalkMs > 0 {
		v.Metrics = append(v.Metrics, metricView{l.T("m_unknown_talk"), ms(m.UnknownTalkMs)})
	}
	v.Metrics = append(v.Metrics, metricView{l.T("m_silence"), ms(m.SilenceMs)}, metricView{l.T("m_longest_silence"), ms(m.LongestSilenceMs)},
		metricView{l.T("m_crosstalk"), ms(m.CrosstalkMs)}, metricView{l.T("m_duration"), ms(m.DurationMs)})
	if v.AudioID != "" && len(a.Peaks) > 0 && a.PeakWindowMs > 0 {
		peaks := a.Peaks
		if len(peaks) > len(lanes) {
			peaks = peaks[:len(lanes)]
		}
		duration := m.DurationMs
		if duration <= 0 {
			duration = int64(len(peaks[0])) * int64(a.PeakWindowMs)
		}
		for i := range markers {
			if markers[i].Channel >= len(peaks) {
				markers[i].Channel = -1
			}
		}
		v.Player = &playerData{Audio: v.AudioID, DurationMs: duration, WindowMs: a.PeakWindowMs, Peaks: peaks,
			Channels: lanes[:len(peaks)], Events: markers}
	}
	return v
}
