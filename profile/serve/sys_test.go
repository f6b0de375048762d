package serve

import "os"

func syscallGetpid() int { return os.Getpid() }
