package cluster

import (
	"fmt"
	"testing"
)

// Reloading the routes (after a watch resync) swaps the table at once: a
// publish matched meanwhile always finds a route present before and after.
func TestRouteTableReplaceNeverEmpties(t *testing.T) {
	tb := newRouteTable()
	var rs []route
	for i := 0; i < 300; i++ {
		rs = append(rs, route{broker: 3, filter: fmt.Sprintf("other/%d/#", i)})
	}
	// Last, so a table refilled route by route would lack it longest.
	rs = append(rs, route{broker: 2, filter: "x/+/#"})
	tb.replace(rs)
	alive := func(string) bool { return true }
	stop, misses := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				misses <- n
				return
			default:
			}
			if len(tb.match("x/a/b", alive)) == 0 {
				n++
			}
		}
	}()
	for i := 0; i < 300; i++ {
		tb.replace(rs)
	}
	close(stop)
	if n := <-misses; n > 0 {
		t.Fatalf("a publish found no route %d times while the unchanged routes were reloaded", n)
	}
	if got := tb.match("x/a/b", alive); len(got) != 1 || got[0].ClientID != "2" {
		t.Fatalf("match after the reloads: %+v", got)
	}
}
