package projections

import "context"

// DuringSwitch sets the test hook that runs inside a rebuild's switch,
// after its last catch-up, while live projectors are held off.
func DuringSwitch(o *RebuildOptions, f func(context.Context) error) { o.duringSwitch = f }
