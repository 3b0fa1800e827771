cluster {
  bind       = "127.0.0.1:7946"
  peer       = "127.0.0.1:7950"
  partitions = 0
}
