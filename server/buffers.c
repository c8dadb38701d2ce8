/* SPDX-License-Identifier: MIT */
/*
 * Shared buffers: the data plane of proxied bulk copies. A client shares a
 * sealed memfd (BUF_ATTACH, then the descriptor channel, as for MAP); its
 * READ_SPAN and WRITE_SPAN name a span of it, and the server copies between
 * the device and the span with the same kernel-shim primitives and checks
 * as READ and WRITE, without the bytes crossing the socket.
 *
 * The server never trusts the buffer: it must be a memfd sealed against
 * shrinking and growing (so the client cannot take pages away under a copy;
 * a fault there would still be recovered, as on any buffer), of exactly the
 * announced size; spans are checked against that size; a client holds at
 * most limits.max_buffers buffers and limits.max_buffer_bytes bytes (the
 * policy's; a reload applies to later attaches), and loses them all when it
 * disconnects.
 */
#include "log.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_size_t attached;

size_t srv_buffer_count(void)
{
	return atomic_load(&attached);
}

int srv_buffer_room(const struct srv_session *s, uint64_t length, struct mmio_reason *why)
{
	uint64_t max_bytes = srv.max_buffer_bytes;
	unsigned most = srv.max_buffers < SRV_BUFFERS_PER_SESSION ? srv.max_buffers
								  : SRV_BUFFERS_PER_SESSION;

	if (length == 0)
		return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_EMPTY,
				       0);
	if (length > max_bytes || s->nbuffers >= srv.max_buffers ||
	    s->nbuffers >= SRV_BUFFERS_PER_SESSION || s->buffer_bytes + length > max_bytes) {
		srv_debug("uid %u pid %d: shared buffer of %llu bytes refused: %u attached of "
			  "limits.max_buffers %u, %llu bytes of limits.max_buffer_bytes %llu",
			  (unsigned)s->peer.uid, (int)s->pid, (unsigned long long)length,
			  s->nbuffers, (unsigned)srv.max_buffers,
			  (unsigned long long)s->buffer_bytes, (unsigned long long)max_bytes);
		if (s->nbuffers >= most)
			return mmio_reason_set(why, MMIO_ENOMEM, MMIO_REASON_LIMIT,
					       MMIO_LIMIT_BUFFERS, most);
		return mmio_reason_set(why, MMIO_ENOMEM, MMIO_REASON_LIMIT, MMIO_LIMIT_BUFFER_BYTES,
				       max_bytes);
	}
	return MMIO_OK;
}

/* Is @fd what a shared buffer of @length bytes must be? */
static int buffer_check(int fd, uint64_t length, struct mmio_reason *why)
{
	const unsigned code = MMIO_REASON_BUFFER;
	const int need = F_SEAL_SHRINK | F_SEAL_GROW;
	int seals = fcntl(fd, F_GET_SEALS);
	struct stat st;

	if (seals < 0) {
		srv_debug("shared buffer refused: not a memfd (%s)", strerror(errno));
		return mmio_reason_set(why, MMIO_EINVAL, code, MMIO_BUFFER_NOT_MEMFD, 0);
	}
	if ((seals & need) != need) {
		srv_debug("shared buffer refused: not sealed against shrinking and growing");
		return mmio_reason_set(why, MMIO_EINVAL, code, MMIO_BUFFER_NOT_SEALED, 0);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != length) {
		srv_debug("shared buffer refused: not %llu bytes", (unsigned long long)length);
		return mmio_reason_set(why, MMIO_EINVAL, code, MMIO_BUFFER_SIZE, length);
	}
	return MMIO_OK;
}

int srv_buffer_adopt(uint32_t pipe_id, uint64_t length, int fd, uint32_t *id,
		     struct mmio_reason *why)
{
	struct srv_session *s = srv_session_get(pipe_id);
	struct srv_buffer *b = NULL;
	void *map = MAP_FAILED;
	int status;

	if (!s) {
		close(fd);
		return MMIO_ECONN;
	}
	status = buffer_check(fd, length, why);
	if (status == MMIO_OK) {
		/* One page past a 2 MiB boundary, devices at one: they never share
		 * a slot of a direct-mapped TLB (shim_mmap_placed()). */
		map = shim_mmap_placed((size_t)length, PROT_READ | PROT_WRITE, fd, 0, 4096);
		if (map == MAP_FAILED)
			status = errno == ENOMEM
					 ? MMIO_ENOMEM
					 : mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_BUFFER,
							   MMIO_BUFFER_NO_MAP, 0);
	}
	close(fd);
	if (status == MMIO_OK && !(b = calloc(1, sizeof(*b))))
		status = MMIO_ENOMEM;

	pthread_mutex_lock(&s->lock);
	if (status == MMIO_OK && s->closed)
		status = MMIO_ECONN;
	if (status == MMIO_OK)
		status = srv_buffer_room(s, length, why);
	if (status == MMIO_OK) {
		b->id = ++s->next_buffer_id;
		if (b->id == 0)
			b->id = ++s->next_buffer_id;
		b->map = map;
		b->size = (size_t)length;
		s->buffers[s->nbuffers++] = b;
		s->buffer_bytes += length;
		atomic_fetch_add(&attached, 1);
		*id = b->id;
	}
	pthread_mutex_unlock(&s->lock);
	if (status != MMIO_OK) {
		if (map != MAP_FAILED)
			munmap(map, (size_t)length);
		free(b);
	}
	srv_session_put(s);
	return status;
}

struct srv_buffer *srv_buffer_find(struct srv_session *s, uint32_t id)
{
	for (unsigned i = 0; i < s->nbuffers; i++) {
		if (s->buffers[i]->id == id)
			return s->buffers[i];
	}
	return NULL;
}

static void buffer_free(struct srv_session *s, unsigned i)
{
	struct srv_buffer *b = s->buffers[i];

	s->buffer_bytes -= b->size;
	s->buffers[i] = s->buffers[--s->nbuffers];
	munmap(b->map, b->size);
	free(b);
	atomic_fetch_sub(&attached, 1);
}

int srv_buffer_detach(struct srv_session *s, uint32_t id)
{
	for (unsigned i = 0; i < s->nbuffers; i++) {
		if (s->buffers[i]->id == id) {
			buffer_free(s, i);
			return MMIO_OK;
		}
	}
	return MMIO_EINVAL;
}

void srv_buffers_release(struct srv_session *s)
{
	while (s->nbuffers)
		buffer_free(s, 0);
}
