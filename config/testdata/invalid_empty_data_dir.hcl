node {
  data_dir = ""
}
