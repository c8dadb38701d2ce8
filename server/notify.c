/* SPDX-License-Identifier: MIT */
/*
 * sd_notify(3) without libsystemd: the protocol is one datagram of
 * "KEY=VALUE" lines sent to the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a path, or "@name" for the abstract namespace).
 */
#include "server.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int srv_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr;
	size_t len;
	socklen_t addrlen;
	int fd, rc;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path))
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, len);
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Never block the server on a service manager that does not read: a
	 * full queue loses this notification, not the server's main loop. */
	rc = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr,
		    addrlen) < 0
		     ? -1
		     : 1;
	close(fd);
	return rc;
}
