//go:build perfgate_slow

package symbolize

func init() { testSlowdown = 0.30 }
