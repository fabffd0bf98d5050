package service

import (
	"container/list"
	"sync"

	"callvault/internal/cms"
)

// playCache keeps opened CMS headers (the content cipher and where the
// ciphertext lies) by blob key. Blob keys are never reused for other
// bytes (each upload gets a fresh key), so an entry never goes stale; it
// saves each playback request the key unsealing and the RSA decryption,
// which dominate time to first byte. The content keys it holds stay in
// this process, like the private keys they come from.
type playCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type playEntry struct {
	key string
	r   *cms.ReaderAt
}

func (c *playCache) get(key string) *cms.ReaderAt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		return nil
	}
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*playEntry).r
}

func (c *playCache) put(key string, r *cms.ReaderAt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[string]*list.Element{}
		c.order = list.New()
		if c.max == 0 {
			c.max = 4096
		}
	}
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&playEntry{key: key, r: r})
	if c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*playEntry).key)
	}
}

// forget drops an entry, when its blob is deleted.
func (c *playCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}
