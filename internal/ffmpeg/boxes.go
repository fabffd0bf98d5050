package ffmpeg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxBoxSize is the largest top-level box CompleteBoxes accepts. A screen recording's boxes are a
// second of video each; a larger size is garbage or a file this package did not write.
const MaxBoxSize = 256 << 20

// maxPendingMoof bounds a moof held back until its mdat arrives; a moof indexes one second of
// samples and is a few kilobytes.
const maxPendingMoof = 16 << 20

// ErrBadBox is wrapped by CompleteBoxes' error for data that is not a box at all.
var ErrBadBox = errors.New("not an ISO BMFF box")

// CompleteBoxes copies the complete top-level ISO BMFF boxes of src (an MP4 that a crash may have
// cut anywhere) to dst and returns the bytes written, always a prefix of src made of whole boxes.
// It drops a trailing partial box, and a trailing moof whose mdat never came (a fragment without
// its data); a moof followed by another moof ends the copy before the first. A box of size 0 ("to the end of the file") is treated as the end: in a file that
// was being appended to it cannot be told from the zero-filled tail a power loss leaves.
//
// It streams, holding at most one box (and a moof waiting for its mdat) in memory. The end of
// src is not an error; a read error, a box larger than MaxBoxSize, or a header that is not a box
// (ErrBadBox) is, and the bytes written up to it are still whole boxes.
func CompleteBoxes(dst io.Writer, src io.Reader) (int64, error) {
	var written int64
	var pendingMoof []byte
	var box bytes.Buffer
	write := func(p []byte) error {
		n, err := dst.Write(p)
		written += int64(n)
		if err != nil {
			return fmt.Errorf("cannot write box: %w", err)
		}
		return nil
	}
	for {
		box.Reset()
		boxType, complete, err := readBox(&box, src)
		if err != nil || !complete {
			return written, err
		}
		if pendingMoof != nil && boxType == "moof" {
			// Two moofs in a row: the first fragment's data never came. What follows cannot be
			// a prefix of whole fragments, so the copy ends before it.
			return written, nil
		}
		if pendingMoof != nil {
			// Only mdat completes a fragment; anything else after a moof still means its moof
			// was complete, and dropping it would break the data that came after.
			if err := write(pendingMoof); err != nil {
				return written, err
			}
			pendingMoof = nil
		}
		if boxType == "moof" {
			if box.Len() > maxPendingMoof {
				return written, fmt.Errorf("cannot copy boxes: moof of %d bytes is larger than %d", box.Len(), maxPendingMoof)
			}
			pendingMoof = append([]byte(nil), box.Bytes()...)
			continue
		}
		if err := write(box.Bytes()); err != nil {
			return written, err
		}
	}
}

// readBox reads one top-level box into box. complete is false at a clean or truncated end of src.
func readBox(box *bytes.Buffer, src io.Reader) (boxType string, complete bool, err error) {
	var header [16]byte
	if _, err := io.ReadFull(src, header[:8]); err != nil {
		return "", false, endOrError(err)
	}
	size := uint64(binary.BigEndian.Uint32(header[:4]))
	boxType = string(header[4:8])
	headerLen := 8
	switch size {
	case 0:
		return boxType, false, nil // "to the end of the file": see CompleteBoxes
	case 1:
		if _, err := io.ReadFull(src, header[8:16]); err != nil {
			return "", false, endOrError(err)
		}
		size = binary.BigEndian.Uint64(header[8:16])
		headerLen = 16
	}
	if !printableType(header[4:8]) {
		return "", false, fmt.Errorf("cannot copy boxes: type %q: %w", header[4:8], ErrBadBox)
	}
	if size < uint64(headerLen) {
		return "", false, fmt.Errorf("cannot copy boxes: %q box of size %d: %w", boxType, size, ErrBadBox)
	}
	if size > MaxBoxSize {
		return "", false, fmt.Errorf("cannot copy boxes: %q box of %d bytes is larger than %d", boxType, size, MaxBoxSize)
	}
	box.Write(header[:headerLen])
	// CopyN grows the buffer as data arrives, so a size that promises more than src holds
	// costs only what src really had.
	body := int64(size) - int64(headerLen)
	if _, err := io.CopyN(box, src, body); err != nil {
		return boxType, false, endOrError(err)
	}
	return boxType, true, nil
}

// endOrError turns a short read into the end of the stream and keeps real read errors.
func endOrError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return fmt.Errorf("cannot read boxes: %w", err)
}

// printableType: top-level box types are four printable ASCII characters (ftyp, moov, moof,
// mdat, mfra, free, …); anything else is not a box.
func printableType(t []byte) bool {
	for _, c := range t {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
