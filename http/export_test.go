package http

import "context"

// ReadNow renews the directory's copy now, as Run does every Poll.
func (d *Directory) ReadNow(ctx context.Context) error { return d.read(ctx) }
