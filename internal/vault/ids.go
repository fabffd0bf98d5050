package vault

import (
	"strings"
	"unicode/utf8"
)

// Names that rcbs writes itself inside a recording's folder or beside it;
// a media id may not take one of them, or a hostile server could make rcbs
// overwrite its own bookkeeping.
const (
	// VerifiedFileName is rcbs's record of verified files in a folder.
	VerifiedFileName = ".rcbs-verified.json"
	// PartialSuffix marks a download in progress.
	PartialSuffix = ".partial"
)

// MaxIDLength bounds an id in bytes: file systems hold 255-byte names, and
// rcbs writes names a little longer than the id (".<id>.json.partial").
const MaxIDLength = 200

// CheckID validates an id that comes from outside (a recording id, a media
// id, a tenant name read from a server) before it becomes part of a blob
// key or of a file name on a customer's disk, on Linux, macOS or Windows.
// The server and rcbs call this one function. kind names the id in the
// message.
func CheckID(kind, id string) error {
	switch {
	case id == "" || len(id) > MaxIDLength:
		return Errorf(EINVALID, "%s must have 1 to %d bytes", kind, MaxIDLength)
	case !utf8.ValidString(id):
		return Errorf(EINVALID, "%s must be valid UTF-8", kind)
	case id == "." || id == ".." || strings.Contains(id, ".."):
		return Errorf(EINVALID, "%s must not contain '..'", kind)
	case strings.ContainsAny(id, `/\`):
		return Errorf(EINVALID, "%s must not contain '/' or '\\'", kind)
	case strings.IndexFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return Errorf(EINVALID, "%s must not contain control characters", kind)
	case strings.ContainsAny(id, `:*?"<>|`):
		// Windows refuses these in file names; ':' also opens an NTFS
		// alternate data stream.
		return Errorf(EINVALID, "%s must not contain any of : * ? \" < > |", kind)
	case strings.HasSuffix(id, ".") || strings.HasSuffix(id, " ") || strings.HasPrefix(id, " "):
		// Windows drops trailing dots and spaces: two ids would share a file.
		return Errorf(EINVALID, "%s must not start with a space or end with '.' or a space", kind)
	case windowsDevice(id):
		return Errorf(EINVALID, "%s %q is a Windows device name", kind, id)
	case strings.HasSuffix(strings.ToLower(id), PartialSuffix):
		return Errorf(EINVALID, "%s must not end with %q (rcbs's name for downloads in progress)", kind, PartialSuffix)
	case strings.EqualFold(id, VerifiedFileName):
		return Errorf(EINVALID, "%s must not be %q (rcbs's record of verified files)", kind, VerifiedFileName)
	}
	return nil
}

// CheckMediaID is CheckID for a media id of a recording: it may also not
// be the name of the recording's metadata file, <recordingID>.json.
func CheckMediaID(kind, recordingID, mediaID string) error {
	if err := CheckID(kind, mediaID); err != nil {
		return err
	}
	if strings.EqualFold(mediaID, recordingID+".json") {
		return Errorf(EINVALID, "%s must not be %q: that is the name of the recording's metadata file", kind, mediaID)
	}
	return nil
}

// windowsDevice reports names Windows maps to devices whatever the folder
// (CON, NUL, COM1, LPT1.txt, …).
func windowsDevice(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT") {
		switch base[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}
