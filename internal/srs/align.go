package srs

import (
	"encoding/binary"
	"io"
)

// boxAligner passes ffmpeg's fragmented MP4 through to the CMS writer and,
// after each complete top-level mdat box, adds a top-level "free" box that
// brings the stream to a multiple of the cipher block (16 bytes). The CMS
// writer keeps back the last partial block at each flush; without the
// padding that partial block would be the end of the fragment just
// written, and a crash would lose the whole fragment (a second) instead of
// nothing. A free box is legal at the top level and players skip it.
type boxAligner struct {
	w       io.Writer
	total   int64  // bytes written to w
	head    []byte // the current box's header, while it is incomplete
	left    int64  // bytes of the current box's body still to pass
	isMdat  bool
	toEnd   bool // a box of size 0 (to the end of the file): no more boxes
	broken  bool // an impossible header: pass the rest through untouched
	padding [24]byte
}

const cipherBlock = 16

func newBoxAligner(w io.Writer) *boxAligner { return &boxAligner{w: w} }

func (a *boxAligner) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if a.broken || a.toEnd {
			m, err := a.write(p)
			return n + m, err
		}
		if a.left > 0 {
			k := int(min(int64(len(p)), a.left))
			m, err := a.write(p[:k])
			n += m
			if err != nil {
				return n, err
			}
			a.left -= int64(k)
			p = p[k:]
			if a.left == 0 && a.isMdat {
				if err := a.pad(); err != nil {
					return n, err
				}
			}
			continue
		}
		// Gather the header: 8 bytes, 16 with a 64-bit size.
		need := 8
		if len(a.head) >= 4 && binary.BigEndian.Uint32(a.head) == 1 {
			need = 16
		}
		k := min(len(p), need-len(a.head))
		a.head = append(a.head, p[:k]...)
		p = p[k:]
		n += k
		if len(a.head) < need {
			continue
		}
		if need == 8 && binary.BigEndian.Uint32(a.head) == 1 {
			continue // now read the 64-bit size
		}
		size := int64(binary.BigEndian.Uint32(a.head))
		if need == 16 {
			size = int64(binary.BigEndian.Uint64(a.head[8:]))
		}
		a.isMdat = string(a.head[4:8]) == "mdat"
		head := a.head
		a.head = a.head[:0]
		if _, err := a.write(head); err != nil {
			return n, err
		}
		switch {
		case size == 0:
			a.toEnd = true
		case size < int64(need):
			a.broken = true
		default:
			a.left = size - int64(need)
			if a.left == 0 && a.isMdat {
				if err := a.pad(); err != nil {
					return n, err
				}
			}
		}
	}
	return n, nil
}

// pad writes a free box that aligns the stream to the cipher block.
func (a *boxAligner) pad() error {
	r := int(a.total % cipherBlock)
	if r == 0 {
		return nil
	}
	size := cipherBlock - r
	if size < 8 {
		size += cipherBlock
	}
	b := a.padding[:size]
	clear(b)
	binary.BigEndian.PutUint32(b, uint32(size))
	copy(b[4:], "free")
	_, err := a.write(b)
	return err
}

func (a *boxAligner) write(p []byte) (int, error) {
	n, err := a.w.Write(p)
	a.total += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}
