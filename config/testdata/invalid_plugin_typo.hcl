plugin "lz" {
  path = "/opt/lz"
}
codec "lz" {
  levle = 3
}
