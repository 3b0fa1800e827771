node {
  name     = "red"
  data_dir = "./data/red"
  meta     = { rack = "r1", dc = "eu-1" }
}
cluster {
  bind           = "127.0.0.1:7946"
  peer           = "127.0.0.1:7950"
  join           = ["127.0.0.1:7947", "wadi-green.internal:7946"]
  partitions     = 31
  encrypt        = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
  encrypt_accept = ["AQEBAQEBAQEBAQEBAQEBAQ=="]
  advertise_http = "http://10.0.0.1:8080"
  join_wait      = "3s"
  tls {
    ca_file   = "ca.pem"
    cert_file = "red.pem"
    key_file  = "red-key.pem"
  }
}
admin {
  listen = "127.0.0.1:8081"
}
