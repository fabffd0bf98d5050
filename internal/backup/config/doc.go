// Package config reads and checks the rcbs config.properties file, and turns
// its relative settings into absolute download periods.
//
// It follows the Recording Cloud Backup Service chapter of the guide in both
// of its editions: every parameter of either is accepted with the default and
// the validation the guide states. Nothing here prints, reads the clock or
// touches the network: Parse and Load check a file, Period and Windows plan
// with the time they are given.
//
// # The file
//
// The file is read as Java .properties with github.com/magiconair/properties
// (key=value, key: value, # and ! comments, "\" line continuations, \uXXXX),
// as UTF-8, with ${…} expansion off (a regular expression may contain "${").
// Values are trimmed. Keys are case-sensitive as in the guide; a key that
// differs from a known one only in case is used, with a warning. Unknown keys
// are reported in one warning. Credentials never belong in the file: a key
// that looks like one (GWS_PASSWORD, awsSecretAccessKey, …) is ignored with a
// warning that names the key and never its value. An empty value counts as
// not set.
//
// # Backslashes
//
// Java would drop a backslash in front of an ordinary character, so the
// guide's own examples would break: targetDir=C:\target would become
// "C:<TAB>arget" and the default it prints, "audio\mp3 video\mp4", would
// become "audiomp3 videomp4". So a backslash is an escape only where the
// properties format gives it a meaning that a config file may need: before
// another backslash, a line end (continuation), a space, ':', '=', '#', '!',
// or uXXXX. Everywhere else, including before t, n, r and f, it is kept as
// it stands. "C:\\target" and "C:\target" both read as C:\target, which
// targetDir then turns into C:/target (the guide asks for forward slashes);
// "https\://example.com", as Java's Properties.store writes it, still reads as
// https://example.com.
//
// mediaTypePattern is a regular expression matched anywhere in a media file's
// MIME type (Go's regexp.MatchString; anchor it with ^…$ for an exact match).
// The older edition's default "audio\/mp3|video\/mp4" is a valid pattern as it
// stands. The newer edition prints the default as "audio\mp3 video\mp4": since
// a MIME type never contains a space, whitespace-separated words are read as
// alternatives, and a word shaped type\subtype as type/subtype, with a
// warning, so the guide's text means audio/mp3|video/mp4 as the guide intends.
//
// # Ages, dates and the period
//
// Ages are whole days or ISO 8601 durations P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S;
// see ParseAge and Age.Before for the calendar arithmetic. Dates are
// YYYY-MM-DD at 00:00 GMT or 13-digit epoch milliseconds; see ParseDate.
// Config.Period documents each rule of the download period with the sentence
// of the guide it comes from.
package config
