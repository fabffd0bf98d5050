package config

import (
	"strings"

	"github.com/magiconair/properties"
)

// readProperties parses Java .properties text with the backslash rule of the
// package documentation, returning the keys in file order and their values
// (the last one wins for a repeated key, as in Java).
func readProperties(text string) (keys []string, values map[string]string, err error) {
	loader := properties.Loader{Encoding: properties.UTF8, DisableExpansion: true}
	p, err := loader.LoadBytes([]byte(keepLoneBackslashes(text)))
	if err != nil {
		return nil, nil, err
	}
	keys = p.Keys()
	values = make(map[string]string, len(keys))
	for _, k := range keys {
		v, _ := p.Get(k)
		values[k] = strings.TrimSpace(v)
	}
	return keys, values, nil
}

// keepLoneBackslashes doubles every backslash that the properties format
// would otherwise drop, so it survives the parser as written. It also turns
// CR LF and lone CR line ends into LF, which Java accepts and the parser's
// line continuation does not, and drops a backslash at the very end, as Java
// does.
func keepLoneBackslashes(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			break
		}
		next := s[i+1]
		switch {
		case next == '\n' || strings.IndexByte(`\ :=#!`, next) >= 0:
			b.WriteByte('\\')
			b.WriteByte(next)
			i++
		case next == 'u' && isHex4(s[i+2:]):
			b.WriteByte('\\') // \uXXXX: the parser decodes it
		default:
			b.WriteString(`\\`)
		}
	}
	return b.String()
}

func isHex4(s string) bool {
	if len(s) < 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
			return false
		}
	}
	return true
}
