package vault

import "strings"

// NormalizeMediaType gives a media type in the guide's spelling: lower
// case, without parameters, and audio/mp3 for MP3 however it was named
// (audio/mpeg is what browsers and many recorders send; the guide and
// rcbs's default mediaTypePattern say audio/mp3).
func NormalizeMediaType(t string) string {
	t, _, _ = strings.Cut(t, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	switch t {
	case "audio/mpeg", "audio/mpeg3", "audio/x-mp3", "audio/x-mpeg", "audio/x-mpeg-3":
		return "audio/mp3"
	case "audio/x-wav", "audio/wave", "audio/vnd.wave":
		return "audio/wav"
	}
	return t
}
