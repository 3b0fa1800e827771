name = "red"
