// Package keystoretest is the conformance suite every keystore.Backend
// must pass; each backend's tests call TestBackend.
package keystoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"callvault/internal/keystore"
)

// TestBackend runs the Backend contract against backends made by
// newBackend; each call must return an empty backend.
func TestBackend(t *testing.T, newBackend func(t *testing.T) keystore.Backend) {
	t.Run("RoundTrip", func(t *testing.T) {
		ctx := context.Background()
		b := newBackend(t)
		blob := []byte{0, 1, 2, 0xff, '\n', 0}
		mustPut(t, b, "t1", "cv_a", blob)
		got, err := b.Get(ctx, "t1", "cv_a")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, blob) {
			t.Errorf("Get = %x, want %x", got, blob)
		}
	})

	t.Run("PutReplaces", func(t *testing.T) {
		ctx := context.Background()
		b := newBackend(t)
		mustPut(t, b, "t1", "cv_a", []byte("old"))
		mustPut(t, b, "t1", "cv_a", []byte("new"))
		got, err := b.Get(ctx, "t1", "cv_a")
		if err != nil || string(got) != "new" {
			t.Errorf("Get = %q, %v; want \"new\"", got, err)
		}
		aliases, err := b.List(ctx, "t1")
		if err != nil || !slices.Equal(aliases, []string{"cv_a"}) {
			t.Errorf("List = %q, %v; want [cv_a]", aliases, err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		ctx := context.Background()
		b := newBackend(t)
		if _, err := b.Get(ctx, "t1", "missing"); !errors.Is(err, keystore.ErrNotFound) {
			t.Errorf("Get missing: err = %v, want ErrNotFound", err)
		}
		if err := b.Delete(ctx, "t1", "missing"); !errors.Is(err, keystore.ErrNotFound) {
			t.Errorf("Delete missing: err = %v, want ErrNotFound", err)
		}
		aliases, err := b.List(ctx, "unknown-tenant")
		if err != nil || len(aliases) != 0 {
			t.Errorf("List unknown tenant = %q, %v; want none", aliases, err)
		}
	})

	t.Run("ListSortedPerTenant", func(t *testing.T) {
		ctx := context.Background()
		b := newBackend(t)
		for _, alias := range []string{"cv_c", "cv_a", "cv_b"} {
			mustPut(t, b, "t1", alias, []byte(alias))
		}
		mustPut(t, b, "t2", "cv_z", []byte("other tenant"))
		aliases, err := b.List(ctx, "t1")
		if err != nil || !slices.Equal(aliases, []string{"cv_a", "cv_b", "cv_c"}) {
			t.Errorf("List t1 = %q, %v", aliases, err)
		}
		if _, err := b.Get(ctx, "t2", "cv_a"); !errors.Is(err, keystore.ErrNotFound) {
			t.Errorf("Get t2/cv_a: err = %v, want ErrNotFound (tenants are separate)", err)
		}
		if err := b.Delete(ctx, "t1", "cv_b"); err != nil {
			t.Fatal(err)
		}
		aliases, err = b.List(ctx, "t1")
		if err != nil || !slices.Equal(aliases, []string{"cv_a", "cv_c"}) {
			t.Errorf("List t1 after delete = %q, %v", aliases, err)
		}
	})

	t.Run("InvalidNames", func(t *testing.T) {
		ctx := context.Background()
		b := newBackend(t)
		for _, name := range []string{"", ".", "..", "a/b", "../x", "a..b", ".hidden", `a\b`, "a\x00b", "a\nb", "\x7f"} {
			if err := b.Put(ctx, name, "cv_a", []byte("x")); !errors.Is(err, keystore.ErrInvalidName) {
				t.Errorf("Put tenant %q: err = %v, want ErrInvalidName", name, err)
			}
			if err := b.Put(ctx, "t1", name, []byte("x")); !errors.Is(err, keystore.ErrInvalidName) {
				t.Errorf("Put alias %q: err = %v, want ErrInvalidName", name, err)
			}
			if _, err := b.Get(ctx, "t1", name); !errors.Is(err, keystore.ErrInvalidName) {
				t.Errorf("Get alias %q: err = %v, want ErrInvalidName", name, err)
			}
			if err := b.Delete(ctx, "t1", name); !errors.Is(err, keystore.ErrInvalidName) {
				t.Errorf("Delete alias %q: err = %v, want ErrInvalidName", name, err)
			}
			if _, err := b.List(ctx, name); !errors.Is(err, keystore.ErrInvalidName) {
				t.Errorf("List tenant %q: err = %v, want ErrInvalidName", name, err)
			}
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		b := newBackend(t)
		if err := b.Put(ctx, "t1", "cv_a", []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Put with canceled context: err = %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		ctx := context.Background()
		b := newBackend(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				blob := bytes.Repeat([]byte{byte(i)}, 4096)
				if err := b.Put(ctx, "t1", "cv_same", blob); err != nil {
					t.Error(err)
				}
				if err := b.Put(ctx, "t1", fmt.Sprintf("cv_%d", i), blob); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, err := b.Get(ctx, "t1", "cv_same")
		if err != nil {
			t.Fatal(err)
		}
		// Whichever write won, it must be whole.
		if len(got) != 4096 || !bytes.Equal(got, bytes.Repeat(got[:1], 4096)) {
			t.Errorf("concurrent writes produced a mixed or partial blob")
		}
		aliases, err := b.List(ctx, "t1")
		if err != nil || len(aliases) != 9 {
			t.Errorf("List = %q, %v; want 9 aliases", aliases, err)
		}
	})
}

func mustPut(t *testing.T, b keystore.Backend, tenant, alias string, blob []byte) {
	t.Helper()
	if err := b.Put(context.Background(), tenant, alias, blob); err != nil {
		t.Fatalf("Put %s/%s: %v", tenant, alias, err)
	}
}
