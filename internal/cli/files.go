package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// bufSize is the read and write buffer of the file commands: large buffers
// keep the CMS code working on big blocks, which is where its speed comes from.
const bufSize = 1 << 20

// atomicFile is an output written under a temporary name in the final
// directory and renamed into place only when complete, so a failed or
// interrupted command never leaves a partial file under the final name.
type atomicFile struct {
	*os.File
	final     string
	committed bool
}

// createAtomic creates the temporary file for final with the given mode.
func createAtomic(final string, perm fs.FileMode) (*atomicFile, error) {
	dir, base := filepath.Split(final)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.partial")
	if err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", final, pathless(err))
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("cannot create %s: %w", final, pathless(err))
	}
	return &atomicFile{File: f, final: final}, nil
}

// Commit flushes the file to disk and gives it its final name.
func (a *atomicFile) Commit() error {
	if err := a.Sync(); err != nil {
		return fmt.Errorf("cannot write %s: %w", a.final, pathless(err))
	}
	if err := a.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", a.final, pathless(err))
	}
	if err := os.Rename(a.Name(), a.final); err != nil {
		return fmt.Errorf("cannot rename to %s: %w", a.final, pathless(err))
	}
	a.committed = true
	// Make the rename itself durable; a failure here loses nothing already
	// written, so it is not reported.
	if d, err := os.Open(filepath.Dir(a.final)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort removes the temporary file; after Commit it does nothing, so it can
// be deferred.
func (a *atomicFile) Abort() {
	if a.committed {
		return
	}
	a.Close()
	os.Remove(a.Name())
}

// output is where a command writes its result: an atomicFile, or stdout for
// "-" (which cannot be taken back on failure).
type output struct {
	*bufio.Writer
	file *atomicFile // nil for stdout
}

func (a *App) createOutput(path string, perm fs.FileMode) (*output, error) {
	if path == "-" {
		return &output{Writer: bufio.NewWriterSize(a.Stdout, bufSize)}, nil
	}
	f, err := createAtomic(path, perm)
	if err != nil {
		return nil, err
	}
	return &output{Writer: bufio.NewWriterSize(f, bufSize), file: f}, nil
}

func (o *output) Commit() error {
	if err := o.Flush(); err != nil {
		return fmt.Errorf("cannot write output: %w", pathless(err))
	}
	if o.file == nil {
		return nil
	}
	return o.file.Commit()
}

func (o *output) Abort() {
	if o.file != nil {
		o.file.Abort()
	}
}

// openInput opens path, or stdin for "-". size is the length of a regular
// file and -1 for anything that has to be streamed (stdin, pipes).
func (a *App) openInput(path string) (r io.Reader, size int64, closeFn func(), err error) {
	if path == "-" {
		return a.Stdin, -1, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("cannot open %s: %w", path, pathless(err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("cannot open %s: %w", path, pathless(err))
	}
	switch {
	case st.IsDir():
		f.Close()
		return nil, 0, nil, fmt.Errorf("cannot open %s: is a directory", path)
	case st.Mode().IsRegular():
		size = st.Size()
	default:
		size = -1
	}
	return f, size, func() { f.Close() }, nil
}

// pathless drops the *PathError wrapper whose path the caller already names,
// so messages do not repeat it.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ctxReader stops a copy when ctx is cancelled (Ctrl-C), so the command can
// remove its temporary file. It also hides the source's WriterTo, so
// io.CopyBuffer uses our large buffer.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// checkPassSource validates an openssl -passin argument without reading the
// secret. Messages never repeat the argument: it may hold the password.
func checkPassSource(spec string) error {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "" || spec == "stdin":
		return nil
	case kind == "pass":
		return nil
	case kind == "env" || kind == "file":
		if arg == "" {
			return usagef("-passin %s: needs a name after the colon", kind)
		}
		return nil
	case kind == "fd":
		if _, err := strconv.Atoi(arg); err != nil {
			return usagef("-passin fd: needs a file descriptor number")
		}
		return nil
	default:
		return usagef("-passin: unknown source; use pass:PASSWORD, env:VAR, file:PATH, fd:N or stdin")
	}
}

// readPassword reads the password named by an openssl -passin argument
// (already checked by checkPassSource); "" means none.
func (a *App) readPassword(spec string) ([]byte, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "":
		return nil, nil
	case spec == "stdin":
		return firstLine(a.Stdin, "stdin")
	case kind == "pass":
		return []byte(arg), nil
	case kind == "env":
		v, ok := a.LookupEnv(arg)
		if !ok {
			return nil, fmt.Errorf("-passin env:%s: variable is not set", arg)
		}
		return []byte(v), nil
	case kind == "file":
		f, err := os.Open(arg)
		if err != nil {
			return nil, fmt.Errorf("-passin: cannot open %s: %w", arg, pathless(err))
		}
		defer f.Close()
		return firstLine(f, arg)
	default: // fd
		fd, _ := strconv.Atoi(arg)
		f := os.NewFile(uintptr(fd), "fd:"+arg)
		if f == nil {
			return nil, fmt.Errorf("-passin: bad file descriptor %s", arg)
		}
		defer f.Close()
		return firstLine(f, "fd:"+arg)
	}
}

// firstLine returns the first line of r without its line ending, as openssl
// reads a password from a file.
func firstLine(r io.Reader, name string) ([]byte, error) {
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("-passin: cannot read %s: %w", name, pathless(err))
	}
	if len(line) == 0 && errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("-passin: %s is empty", name)
	}
	return bytes.TrimRight(line, "\r\n"), nil
}
