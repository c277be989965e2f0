package schema

import (
	"reflect"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	src := "-- header\nCREATE TABLE a (\n  x INT -- the x; not the end\n);\n\nINSERT INTO a VALUES (1);  \n-- trailing comment\n"
	want := []string{"-- header\nCREATE TABLE a (\n  x INT -- the x; not the end\n)", "INSERT INTO a VALUES (1)"}
	if got := splitStatements(src); !reflect.DeepEqual(got, want) {
		t.Fatalf("splitStatements = %q, want %q", got, want)
	}
}
