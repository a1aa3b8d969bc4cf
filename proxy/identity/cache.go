package identity

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers validated tokens, by the SHA-256 of the token, until
// they expire. It holds at most max entries: when full, expired entries go
// first, then arbitrary ones (a map's iteration order), so a flood of
// distinct valid tokens costs revalidation, never memory.
type tokenCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]*Token
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[[sha256.Size]byte]*Token, min(max, 1024))}
}

func (c *tokenCache) get(k [sha256.Size]byte, now time.Time) *Token {
	c.mu.RLock()
	t := c.entries[k]
	c.mu.RUnlock()
	if t == nil || !now.Before(t.Expiry) {
		return nil
	}
	return t
}

func (c *tokenCache) put(k [sha256.Size]byte, t *Token, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for key, e := range c.entries {
			if !now.Before(e.Expiry) {
				delete(c.entries, key)
			}
		}
		for key := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = t
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
