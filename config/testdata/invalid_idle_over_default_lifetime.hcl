session {
  idle_timeout = "48h"
}
