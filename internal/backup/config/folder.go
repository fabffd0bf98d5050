package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultRecordingFolderFormat is the guide's default: year, month, day and
// hour folders.
const DefaultRecordingFolderFormat = "yyyy/MM/dd/HH"

// FolderPath renders recordingFolderFormat for t, in UTC, as a relative
// slash-separated path. The format is the subset of Java's SimpleDateFormat
// that makes sense for folders:
//
//	yyyy  year, at least 4 digits (y and yyy pad to 1 and 3, as Java)
//	yy    year, 2 digits
//	MM M  month, 2 digits / as few as needed
//	dd d  day of the month
//	HH H  hour of the day, 0–23
//	mm m  minute
//	ss s  second
//	'…'   literal text; '' is one quote
//
// Any other ASCII letter is refused (Java would read it as another field, such
// as MMM for a month name); other characters are literal. The path must stay
// inside targetDir/<tenant>, so it may not be empty or absolute, and may not
// hold a backslash, an empty, "." or ".." segment, or a character Windows
// forbids in names (<>:"|?* and control characters).
func FolderPath(format string, t time.Time) (string, error) {
	if format == "" {
		return "", errors.New("empty; want a date pattern such as yyyy/MM/dd/HH")
	}
	t = t.UTC()
	var b strings.Builder
	for i := 0; i < len(format); {
		c := format[i]
		switch {
		case c == '\'':
			j := i + 1
			if j < len(format) && format[j] == '\'' { // '' outside quotes
				b.WriteByte('\'')
				i = j + 1
				continue
			}
			for {
				if j >= len(format) {
					return "", errors.New("unterminated quoted text; close it with '")
				}
				if format[j] == '\'' {
					if j+1 < len(format) && format[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(format[j])
				j++
			}
			i = j + 1
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			n := 1
			for i+n < len(format) && format[i+n] == c {
				n++
			}
			field, err := dateField(c, n, t)
			if err != nil {
				return "", err
			}
			b.WriteString(field)
			i += n
		default:
			b.WriteByte(c)
			i++
		}
	}
	folder := b.String()
	if err := checkRelativePath(folder); err != nil {
		return "", err
	}
	return folder, nil
}

func dateField(letter byte, n int, t time.Time) (string, error) {
	var value int
	switch letter {
	case 'y':
		if n == 2 {
			return fmt.Sprintf("%02d", ((t.Year()%100)+100)%100), nil
		}
		if n > 4 {
			return "", fmt.Errorf("%s: want yyyy or yy", strings.Repeat("y", n))
		}
		return fmt.Sprintf("%0*d", n, t.Year()), nil
	case 'M':
		if n > 2 {
			return "", fmt.Errorf("%s: month names are not supported; want MM or M", strings.Repeat("M", n))
		}
		value = int(t.Month())
	case 'd':
		value = t.Day()
	case 'H':
		value = t.Hour()
	case 'm':
		value = t.Minute()
	case 's':
		value = t.Second()
	default:
		return "", fmt.Errorf("unsupported pattern letter %q; use yyyy, yy, MM, M, dd, d, HH, H, mm, ss, and quote literal text as 'text'", letter)
	}
	if n > 2 {
		return "", fmt.Errorf("%s: want at most two letters", strings.Repeat(string(letter), n))
	}
	return fmt.Sprintf("%0*d", n, value), nil
}

// checkRelativePath refuses anything that could leave the folder it is
// joined to, or that Windows cannot create.
func checkRelativePath(p string) error {
	if !utf8.ValidString(p) {
		return errors.New("not valid UTF-8")
	}
	if strings.ContainsRune(p, '\\') {
		return errors.New(`use "/" (forward slash), not "\" (backslash), on Windows and Linux alike`)
	}
	if strings.HasPrefix(p, "/") {
		return errors.New("must be a relative path (no leading /)")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`<>:"|?*`, r) {
			return fmt.Errorf("character %q is not allowed in a folder name", r)
		}
	}
	for _, segment := range strings.Split(p, "/") {
		switch {
		case segment == "":
			return errors.New("empty folder name (// or a trailing /)")
		case segment == "." || segment == "..":
			return errors.New(`"." and ".." are not allowed as folder names`)
		case strings.HasSuffix(segment, " ") || strings.HasSuffix(segment, "."):
			return errors.New("a folder name may not end in a space or a dot (Windows drops them)")
		}
	}
	return nil
}
