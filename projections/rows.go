package projections

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// row is one table row (or one change to it) with values in column order:
// string for text, int64 for integers, uuid.UUID (Nil = NULL) for uuids and
// time.Time (zero = NULL) for times and days.
type row []any

// rowSet is the folded changes to one table, keyed by primary key, in the
// order the keys were first touched.
type rowSet struct {
	t     *table
	col   map[string]int
	rows  map[string]row
	order []string
}

func newRowSet(t *table) *rowSet {
	col := make(map[string]int, len(t.cols))
	for i, c := range t.cols {
		col[c.name] = i
	}
	return &rowSet{t: t, col: col, rows: map[string]row{}}
}

func zeroValue(k kind) any {
	switch k {
	case kInt:
		return int64(0)
	case kUUID:
		return uuid.Nil
	case kTime, kDate:
		return time.Time{}
	default:
		return ""
	}
}

// get returns the row with the given key values (in key-column order),
// creating an empty change if it is new.
func (s *rowSet) get(key ...any) row {
	var b strings.Builder
	for _, k := range key {
		switch v := k.(type) {
		case string:
			b.WriteString(v)
		case uuid.UUID:
			b.Write(v[:])
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case time.Time:
			b.WriteString(strconv.FormatInt(v.Unix(), 10))
		}
		b.WriteByte(0)
	}
	ks := b.String()
	if r, ok := s.rows[ks]; ok {
		return r
	}
	r := make(row, len(s.t.cols))
	ki := 0
	for i, c := range s.t.cols {
		if c.merge == mKey {
			r[i] = key[ki]
			ki++
		} else {
			r[i] = zeroValue(c.kind)
		}
	}
	s.rows[ks] = r
	s.order = append(s.order, ks)
	return r
}

// put merges v into column name of r by the column's merge rule, exactly as
// the SQL upsert merges a change into a stored row.
func (s *rowSet) put(r row, name string, v any) {
	i, ok := s.col[name]
	if !ok {
		panic("projections: no column " + s.t.name + "." + name)
	}
	r[i] = mergeValue(s.t.cols[i], r[i], v)
}

func mergeValue(c column, old, v any) any {
	switch c.merge {
	case mAdd:
		return old.(int64) + v.(int64)
	case mNonEmpty:
		if v.(string) == "" {
			return old
		}
		return v
	case mNonZero:
		if v.(int64) == 0 {
			return old
		}
		return v
	case mCoalesce:
		if isNull(v) {
			return old
		}
		return v
	case mMin, mMax:
		if isNull(v) {
			return old
		}
		if isNull(old) {
			return v
		}
		if less(v, old) == (c.merge == mMin) {
			return v
		}
		return old
	default: // mSet, mSetIf, mKey
		return v
	}
}

func isNull(v any) bool {
	switch x := v.(type) {
	case uuid.UUID:
		return x == uuid.Nil
	case time.Time:
		return x.IsZero()
	}
	return false
}

func less(a, b any) bool {
	switch x := a.(type) {
	case int64:
		return x < b.(int64)
	case time.Time:
		return x.Before(b.(time.Time))
	case string:
		return x < b.(string)
	}
	return false
}

// each calls f for every row in first-touched order.
func (s *rowSet) each(f func(row) error) error {
	for _, k := range s.order {
		if err := f(s.rows[k]); err != nil {
			return err
		}
	}
	return nil
}

func (s *rowSet) len() int { return len(s.order) }
