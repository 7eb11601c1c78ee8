#ifndef CONCD_CSYSTEMD_SHIM_H
#define CONCD_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
