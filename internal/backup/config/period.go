package config

import (
	"hash/fnv"
	"time"
)

// epoch is the oldest moment a period can start: the API speaks epoch
// milliseconds and no recording is older.
var epoch = time.Unix(0, 0).UTC()

// Period turns the configuration into the absolute download period
// [from, to), in UTC and whole milliseconds, for a run that starts at now.
// lastEnd is the time stored in last_recording_endtime.txt, nil when there is
// none. The rules, each with the sentence of the guide it comes from:
//
//  1. to = now − minAge. "All recordings older than the specified minAge
//     value … are included in the download period … The default is 0, which
//     means that the download period includes recordings older than the
//     current time."
//  2. to = minDate, when set. "When specified, this value would be used as
//     the minAge. Note that minDate includes recordings up to 12 AM GMT on
//     the specified date."
//  3. from = now − maxAge; maxAge 0 means no lower bound. "All recordings
//     newer than the specified maxAge value … are included … (0 is any
//     age)."
//  4. from = maxDate, when set, and lastEnd is then ignored. "When specified,
//     this value would be used as the maxAge, and override the local
//     storage's last recording endtime's value (last_recording_endtime.txt).
//     … maxDate includes recordings from 12 AM GMT on the specified date."
//  5. Otherwise from = min(from, lastEnd − overlap). "If the stored last time
//     is older than the specified maxAge, RCBS uses that value instead of
//     MaxAge", "Download period always includes the recordings newer than the
//     last download period", and overlap is "the amount of time … to be
//     re-scanned on subsequent batch downloads … to help catch delayed media
//     files that are added to interaction records after the previous run".
//     Taking the minimum rather than switching only when lastEnd is older
//     than now − maxAge keeps the period continuous as lastEnd crosses that
//     line and re-scans the overlap in both cases; recordings already on
//     disk are not fetched twice ("RCBS will not download duplicate
//     recordings within the same instance"), so the extra hours cost only a
//     listing. When maxAge ≥ (now − lastEnd) + overlap the period is the
//     plain maxAge one: "if the maxAge value is older than the last stored
//     time, RCBS resumes from where it left off".
//  6. skipLastRecordingCheck drops rule 5. "If set to true, the
//     last_recording_endtime.txt is not processed, and the maxAge takes
//     effect."
//  7. The period never ends after now nor starts before 1970, and when the
//     bounds cross (minDate older than now − maxAge, say) it is empty:
//     from == to.
//
// The guide's example: now = 2018-01-09 00:00, minAge=0, maxAge=3 gives
// "from 12 AM GMT on January 06 to 12 AM GMT of January 09"; minDate=2018-01-04
// with maxDate=2018-01-02 gives 2 to 4 January.
func (c *Config) Period(now time.Time, lastEnd *time.Time) (from, to time.Time) {
	now = now.UTC()
	to = c.MinAge.Before(now)
	if c.MinDate != nil {
		to = c.MinDate.UTC()
	}
	if to.After(now) {
		to = now
	}

	switch {
	case c.MaxDate != nil:
		from = c.MaxDate.UTC()
	case c.MaxAge.IsZero():
		from = epoch
	default:
		from = c.MaxAge.Before(now)
	}
	if lastEnd != nil && c.MaxDate == nil && !c.SkipLastRecordingCheck {
		if resume := c.Overlap.Before(*lastEnd); resume.Before(from) {
			from = resume
		}
	}

	if from.Before(epoch) {
		from = epoch
	}
	if to.Before(epoch) {
		to = epoch
	}
	from, to = from.Truncate(time.Millisecond), to.Truncate(time.Millisecond)
	if from.After(to) {
		from = to
	}
	return from, to
}

// maxWindows bounds the windows one period is cut into (274 years of days);
// beyond it the windows grow rather than the memory.
const maxWindows = 100_000

// Windows cuts [from, to) into consecutive half-open windows [a, b) of shard
// each, in UTC, the first starting at from and the last ending at to (and
// shorter when the period is not a whole number of shards), as the guide's
// console log shows: "from 02/22/2018 13:30:14 to 02/22/2018 16:24:58 UTC".
// A recording whose start time is on a boundary belongs to the later window
// only. shard ≤ 0, or a shard longer than the period ("If the minAge and
// maxAge value is smaller than the shardBy value, the shardBy value will be
// ignored"), gives one window; an empty period gives none.
func Windows(from, to time.Time, shard time.Duration) [][2]time.Time {
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil
	}
	span := to.Sub(from)
	if shard <= 0 || shard >= span {
		return [][2]time.Time{{from, to}}
	}
	if span/shard >= maxWindows {
		shard = span/maxWindows + 1
	}
	windows := make([][2]time.Time, 0, span/shard+1)
	for start := from; start.Before(to); {
		end := start.Add(shard)
		if end.After(to) || len(windows) == maxWindows-1 {
			end = to
		}
		windows = append(windows, [2]time.Time{start, end})
		start = end
	}
	return windows
}

// InstanceOf says which of total rcbs instances fetches the recording id:
// FNV-1a 64-bit of the id's UTF-8 bytes, modulo total. Every instance must
// compute the same answer, across versions and machines, or recordings are
// fetched twice or never; so this function must never change. total ≤ 1
// gives 0.
func InstanceOf(id string, total int) int {
	if total <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64() % uint64(total))
}
