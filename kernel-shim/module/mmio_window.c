// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * mmio-window: page-exact, cache-exact, revocable windows on device memory
 * for the mmio server. The ABI and its error contract are in
 * <mmio/window_uapi.h>; docs/MODULE.md says what it guarantees.
 *
 * Design, in the order a reader needs it:
 *  - /dev/mmio-window is the control device. Each open is a control (struct
 *    mw_control) that owns the windows it creates; its release revokes
 *    them all, so a server that dies fails closed.
 *  - Each window is a file on a private pseudo file system with an inode
 *    of its own: every mapping of it, in any process (fork puts the child's
 *    VMA next to the parent's), is in that inode's i_mmap, so one
 *    unmap_mapping_range() removes exactly this window everywhere.
 *  - Pages are inserted at fault time, under the window's rwsem held for
 *    reading; revoke sets the flag under it held for writing and zaps
 *    afterwards, so no fault can insert a page the zap misses.
 *  - The cache type comes from a PAT reservation (an ioremap of the range)
 *    held while the window is live: vmf_insert_pfn() applies the reserved
 *    type, not the one in vm_page_prot. CREATE compares the type of that
 *    reservation with the one asked for and refuses a difference.
 *  - An interrupt (struct mw_irq) is an anonymous file that holds a PCI
 *    function's INTx line, requested shared; its handler masks the
 *    function's INTx as uio_pci_generic's does, so a holder that never
 *    acknowledges costs one interrupt, not a storm. The control owns it
 *    like a window and revokes it the same ways (IRQ_REVOKE, its own
 *    release, a driver binding, removal). Every open interrupt is on its
 *    control's list until the last close of its file: one function, one
 *    holder is checked over all controls under mw_controls_lock.
 */
#include <asm/pgtable.h>
#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/pseudo_fs.h>
#include <linux/rwsem.h>
#include <linux/security.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include <mmio/window_uapi.h>

#define MW_FS_MAGIC 0x6d6d696f /* "mmio" */

struct mw_counts {
	u64 faults, sigbus, maps;
};

struct mw_control {
	struct list_head node; /* in mw_controls, while the control file is open */
	struct kref ref;       /* the control file, and each window and interrupt it made */
	struct mutex lock;     /* windows, irqs, next_id, next_irq_id, revoked, gone, nwindows */
	struct list_head windows;
	struct list_head irqs;
	u64 next_id;
	u64 next_irq_id;
	u64 revoked;
	u32 nwindows;
	struct mw_counts gone; /* of windows closed everywhere */
};

struct mw_window {
	struct list_head node; /* in ctl->windows */
	struct mw_control *ctl;
	u64 id;
	struct rw_semaphore lock; /* revoked vs. fault-time insertion */
	bool revoked;
	bool writable;
	u32 cache;
	phys_addr_t phys;
	unsigned long npages;
	struct pci_dev *pdev;	   /* PCI windows: revoked when it binds or goes */
	void __iomem *reservation; /* holds the PAT type; NULL once revoked */
	struct inode *inode;
	atomic64_t faults, sigbus, maps, mapped;
};

struct mw_irq {
	struct list_head node; /* in ctl->irqs, until the file's last close */
	struct mw_control *ctl;
	u64 id;
	struct pci_dev *pdev; /* a reference */
	unsigned int irq;
	spinlock_t lock; /* the fields below; taken in the handler */
	bool revoked;
	bool masked;
	bool msi;	 /* a message-signalled vector: nothing to mask */
	void *msi_group; /* the devres the kernel's MSI code adds, for its release */
	u64 pending, total, unmasks;
	wait_queue_head_t wait;
};

static struct vfsmount *mw_mnt;

/* Every open control, for the PCI notifier. Taken before any ctl->lock. */
static DEFINE_MUTEX(mw_controls_lock);
static LIST_HEAD(mw_controls);

static const char *const mw_cache_names[MMIO_WINDOW_CACHE_COUNT] = {
	[MMIO_WINDOW_CACHE_UC] = "uncached-minus",  [MMIO_WINDOW_CACHE_WC] = "write-combining",
	[MMIO_WINDOW_CACHE_WT] = "write-through",   [MMIO_WINDOW_CACHE_WB] = "write-back",
	[MMIO_WINDOW_CACHE_UC_STRICT] = "uncached",
};

static enum page_cache_mode mw_pcm(u32 cache)
{
	switch (cache) {
	case MMIO_WINDOW_CACHE_WC:
		return _PAGE_CACHE_MODE_WC;
	case MMIO_WINDOW_CACHE_WT:
		return _PAGE_CACHE_MODE_WT;
	case MMIO_WINDOW_CACHE_WB:
		return _PAGE_CACHE_MODE_WB;
	case MMIO_WINDOW_CACHE_UC_STRICT:
		return _PAGE_CACHE_MODE_UC;
	default:
		return _PAGE_CACHE_MODE_UC_MINUS;
	}
}

static void __iomem *mw_ioremap(phys_addr_t phys, size_t len, u32 cache)
{
	switch (cache) {
	case MMIO_WINDOW_CACHE_WC:
		return ioremap_wc(phys, len);
	case MMIO_WINDOW_CACHE_WT:
		return ioremap_wt(phys, len);
	case MMIO_WINDOW_CACHE_WB:
		return ioremap_cache(phys, len);
	case MMIO_WINDOW_CACHE_UC_STRICT:
		return ioremap_uc(phys, len);
	default:
		return ioremap(phys, len);
	}
}

/*
 * The cache type of the kernel mapping @va, read from its PTE: ioremap()
 * may have taken the type of an overlapping reservation (or the MTRRs')
 * instead of the one asked for, without failing. @want is tried first in
 * case two types share PTE bits on this CPU's PAT layout.
 */
static u32 mw_applied(void __iomem *va, u32 want)
{
	unsigned int level;
	pte_t *pte = lookup_address((unsigned long)va, &level);
	pgprotval_t bits;
	u32 c;

	if (!pte)
		return MMIO_WINDOW_CACHE_UNKNOWN;
	bits = pte_val(*pte);
	if (level != PG_LEVEL_4K)
		bits = protval_large_2_4k(bits);
	bits &= _PAGE_CACHE_MASK;
	if (cachemode2protval(mw_pcm(want)) == bits)
		return want;
	for (c = 0; c < MMIO_WINDOW_CACHE_COUNT; c++)
		if (cachemode2protval(mw_pcm(c)) == bits)
			return c;
	return MMIO_WINDOW_CACHE_UNKNOWN;
}

/* ---- the window file ------------------------------------------------- */

static void mw_vma_open(struct vm_area_struct *vma)
{
	struct mw_window *w = vma->vm_private_data;

	atomic64_inc(&w->mapped);
}

static void mw_vma_close(struct vm_area_struct *vma)
{
	struct mw_window *w = vma->vm_private_data;

	atomic64_dec(&w->mapped);
}

static vm_fault_t mw_fault(struct vm_fault *vmf)
{
	struct mw_window *w = vmf->vma->vm_private_data;
	vm_fault_t ret;

	down_read(&w->lock);
	if (w->revoked) {
		atomic64_inc(&w->sigbus);
		ret = VM_FAULT_SIGBUS;
	} else if (vmf->pgoff >= w->npages) {
		ret = VM_FAULT_SIGBUS; /* mmap bounds it: cannot happen */
	} else {
		ret = vmf_insert_pfn(vmf->vma, vmf->address & PAGE_MASK,
				     PHYS_PFN(w->phys) + vmf->pgoff);
		atomic64_inc(&w->faults);
	}
	up_read(&w->lock);
	return ret;
}

static const struct vm_operations_struct mw_vm_ops = {
	.open = mw_vma_open,
	.close = mw_vma_close,
	.fault = mw_fault,
};

static int mw_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct mw_window *w = file->private_data;
	unsigned long pages = vma_pages(vma);
	pgprotval_t prot;
	int ret = 0;

	/* A private PFN mapping is a COW mapping: vmf_insert_pfn() BUGs on it.
	 * VM_MAYSHARE, not VM_SHARED: do_mmap() clears VM_SHARED on a shared
	 * mapping of a read-only file. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff >= w->npages || pages > w->npages - vma->vm_pgoff)
		return -EINVAL;
	if (!w->writable) {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		vma->vm_flags &= ~VM_MAYWRITE; /* mprotect(PROT_WRITE): EACCES */
	}
	down_read(&w->lock);
	if (w->revoked) {
		ret = -ENODEV;
		goto out;
	}
	/* VM_IO|VM_PFNMAP: no get_user_pages(), so nothing outlives a revoke;
	 * VM_DONTEXPAND: mremap() cannot grow it past the window. */
	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
	prot = pgprot_val(vma->vm_page_prot) & ~_PAGE_CACHE_MASK;
	vma->vm_page_prot = __pgprot(prot | cachemode2protval(mw_pcm(w->cache)));
	vma->vm_ops = &mw_vm_ops;
	vma->vm_private_data = w;
	atomic64_inc(&w->maps);
	atomic64_inc(&w->mapped);
out:
	up_read(&w->lock);
	return ret;
}

static void mw_ctl_free(struct kref *ref)
{
	kfree(container_of(ref, struct mw_control, ref));
}

/* Called with ctl->lock held; the window's file is still open. */
static void mw_revoke(struct mw_control *ctl, struct mw_window *w)
{
	down_write(&w->lock);
	if (w->revoked) {
		up_write(&w->lock);
		return;
	}
	w->revoked = true;
	up_write(&w->lock);
	unmap_mapping_range(w->inode->i_mapping, 0, 0, 1);
	/* No PTE of it exists now, and none can be inserted again. */
	iounmap(w->reservation);
	w->reservation = NULL;
	ctl->revoked++;
}

/* The last reference to the window's file: no descriptor, no mapping. */
static int mw_window_release(struct inode *inode, struct file *file)
{
	struct mw_window *w = file->private_data;
	struct mw_control *ctl;

	if (!w) /* a create that failed after making the file */
		return 0;
	ctl = w->ctl;
	mutex_lock(&ctl->lock);
	list_del(&w->node);
	ctl->nwindows--;
	ctl->gone.faults += atomic64_read(&w->faults);
	ctl->gone.sigbus += atomic64_read(&w->sigbus);
	ctl->gone.maps += atomic64_read(&w->maps);
	if (w->reservation)
		iounmap(w->reservation);
	mutex_unlock(&ctl->lock);
	kref_put(&ctl->ref, mw_ctl_free);
	pci_dev_put(w->pdev);
	kfree(w);
	return 0;
}

static const struct file_operations mw_window_fops = {
	.owner = THIS_MODULE,
	.mmap = mw_mmap,
	.release = mw_window_release,
	.llseek = noop_llseek,
};

/* ---- CREATE ---------------------------------------------------------- */

/* A create in progress: what was resolved so far. */
struct mw_range {
	phys_addr_t phys;
	u64 len;
	struct pci_dev *pdev; /* a reference, for PCI windows */
};

static int mw_refuse(struct mmio_window_create *a, u32 refusal, int err)
{
	a->refusal = refusal;
	return err;
}

static int mw_refuse_irq(struct mmio_window_irq_open *a, u32 refusal, int err)
{
	a->refusal = refusal;
	return err;
}

static int mw_create_validate(struct mmio_window_create *a)
{
	u32 kind = a->flags & (MMIO_WINDOW_PCI | MMIO_WINDOW_PHYS);
	u64 end;
	int i;

	if (a->size != sizeof(*a) || (a->flags & ~MMIO_WINDOW_CREATE_FLAGS) ||
	    (kind != MMIO_WINDOW_PCI && kind != MMIO_WINDOW_PHYS) ||
	    a->cache >= MMIO_WINDOW_CACHE_COUNT || a->pad0 || a->pad1)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		if (a->reserved[i])
			return -EINVAL;
	if (!a->length || !PAGE_ALIGNED(a->length) || !PAGE_ALIGNED(a->offset) ||
	    check_add_overflow(a->offset, a->length, &end))
		return -EINVAL;
	if (a->length > MMIO_WINDOW_MAX_LENGTH)
		return mw_refuse(a, MMIO_WINDOW_TOO_LARGE, -EFBIG);
	if (kind == MMIO_WINDOW_PHYS)
		return (a->pci_domain || a->pci_bus || a->pci_slot || a->pci_function || a->pci_bar)
			       ? -EINVAL
			       : 0;
	if (a->pci_slot > 31 || a->pci_function > 7 || a->pci_bar >= PCI_STD_NUM_BARS)
		return -EINVAL;
	return 0;
}

static int mw_resolve_pci(struct mmio_window_create *a, struct mw_range *r)
{
	struct pci_dev *pdev;
	resource_size_t start, len;
	unsigned long flags;
	int ret = 0;

	pdev = pci_get_domain_bus_and_slot(a->pci_domain, a->pci_bus,
					   PCI_DEVFN(a->pci_slot, a->pci_function));
	if (!pdev)
		return mw_refuse(a, MMIO_WINDOW_NO_DEVICE, -ENODEV);
	start = pci_resource_start(pdev, a->pci_bar);
	len = pci_resource_len(pdev, a->pci_bar);
	flags = pci_resource_flags(pdev, a->pci_bar);
	if (!(flags & IORESOURCE_MEM) || (flags & IORESOURCE_UNSET) || !start || !len ||
	    !PAGE_ALIGNED(start))
		ret = mw_refuse(a, MMIO_WINDOW_NO_DEVICE, -ENODEV);
	else if (a->offset >= len || a->length > len - a->offset)
		ret = mw_refuse(a, MMIO_WINDOW_OUT_OF_BAR, -ERANGE);
	else if (READ_ONCE(pdev->dev.driver))
		ret = mw_refuse(a, MMIO_WINDOW_DRIVER_BOUND, -EBUSY);
	r->phys = start + a->offset;
	r->len = a->length;
	if (ret)
		pci_dev_put(pdev);
	else
		r->pdev = pdev;
	return ret;
}

static int mw_claimed(struct resource *res, void *arg)
{
	return 1;
}

static int mw_check_range(struct mmio_window_create *a, const struct mw_range *r)
{
	if ((r->phys + r->len - 1) >> boot_cpu_data.x86_phys_bits)
		return mw_refuse(a, MMIO_WINDOW_OUT_OF_BAR, -ERANGE);
	if (region_intersects(r->phys, r->len, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) !=
	    REGION_DISJOINT)
		return mw_refuse(a, MMIO_WINDOW_RAM, -EADDRNOTAVAIL);
	/* Stands in for the unexported iomem_is_exclusive(): with
	 * IO_STRICT_DEVMEM every busy resource is a driver's. */
	if (walk_iomem_res_desc(IORES_DESC_NONE, IORESOURCE_MEM | IORESOURCE_BUSY, r->phys,
				r->phys + r->len - 1, NULL, mw_claimed) > 0)
		return mw_refuse(a, MMIO_WINDOW_CLAIMED, -EADDRINUSE);
	return 0;
}

/* Fills @r; on success r->pdev holds a reference (PCI) or is NULL. */
static int mw_resolve(struct mmio_window_create *a, struct mw_range *r)
{
	bool pci = a->flags & MMIO_WINDOW_PCI;
	int ret;

	r->pdev = NULL;

	if (security_locked_down(pci ? LOCKDOWN_PCI_ACCESS : LOCKDOWN_DEV_MEM))
		return mw_refuse(a, MMIO_WINDOW_LOCKDOWN, -EACCES);
	if (pci) {
		ret = mw_resolve_pci(a, r);
		if (ret)
			return ret;
	} else {
		r->phys = a->offset;
		r->len = a->length;
	}
	ret = mw_check_range(a, r);
	if (ret) {
		pci_dev_put(r->pdev);
		r->pdev = NULL;
	}
	return ret;
}

/*
 * Reserve @r with the cache type asked for, and check that the kernel
 * gave exactly that type. On a conflict ioremap() fails; an uncached-minus
 * probe then inherits the type already reserved there, which names it.
 */
static int mw_reserve(struct mmio_window_create *a, const struct mw_range *r, void __iomem **out)
{
	void __iomem *va = mw_ioremap(r->phys, r->len, a->cache);
	u32 applied;

	if (va) {
		applied = mw_applied(va, a->cache);
		if (applied == a->cache) {
			*out = va;
			return 0;
		}
		iounmap(va);
	} else {
		va = ioremap(r->phys, r->len);
		applied = va ? mw_applied(va, a->cache) : MMIO_WINDOW_CACHE_UNKNOWN;
		if (va)
			iounmap(va);
		if (applied == a->cache)
			return mw_refuse(a, MMIO_WINDOW_NO_MEMORY, -ENOMEM);
	}
	a->applied = applied;
	pr_info("mmio-window: %s asked for [%pa, +%#llx), but the kernel applies %s there\n",
		mw_cache_names[a->cache], &r->phys, r->len,
		applied < MMIO_WINDOW_CACHE_COUNT ? mw_cache_names[applied] : "a conflicting type");
	return mw_refuse(a, MMIO_WINDOW_CACHE_MISMATCH, -EOPNOTSUPP);
}

static struct file *mw_file_make(struct mw_window *w)
{
	struct inode *inode = alloc_anon_inode(mw_mnt->mnt_sb);
	struct file *file;

	if (IS_ERR(inode))
		return ERR_CAST(inode);
	/* alloc_file_pseudo() takes no module reference, but the file's
	 * final fput() drops one (fops->owner). */
	__module_get(THIS_MODULE);
	file = alloc_file_pseudo(inode, mw_mnt, "mmio-window", w->writable ? O_RDWR : O_RDONLY,
				 &mw_window_fops);
	if (IS_ERR(file)) {
		module_put(THIS_MODULE);
		iput(inode);
		return file;
	}
	file->private_data = w;
	w->inode = inode;
	return file;
}

static struct mw_window *mw_window_alloc(const struct mmio_window_create *a,
					 const struct mw_range *r)
{
	struct mw_window *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	init_rwsem(&w->lock);
	w->writable = a->flags & MMIO_WINDOW_RW;
	w->cache = a->cache;
	w->phys = r->phys;
	w->npages = r->len >> PAGE_SHIFT;
	w->pdev = r->pdev; /* the window's reference, put by its release */
	return w;
}

/*
 * Link @w into @ctl, which gives it its id. Under mw_controls_lock, and
 * the driver checked again under it: the kernel sets dev->driver before
 * it notifies the bind, so either the notifier sees this window or this
 * sees the driver.
 */
static int mw_window_link(struct mw_control *ctl, struct mw_window *w, struct mmio_window_create *a)
{
	int ret = 0;

	mutex_lock(&mw_controls_lock);
	mutex_lock(&ctl->lock);
	if (w->pdev && READ_ONCE(w->pdev->dev.driver))
		ret = mw_refuse(a, MMIO_WINDOW_DRIVER_BOUND, -EBUSY);
	else if (ctl->nwindows >= MMIO_WINDOW_MAX_PER_CONTROL)
		ret = mw_refuse(a, MMIO_WINDOW_LIMIT, -ENOSPC);
	if (ret) {
		mutex_unlock(&ctl->lock);
		mutex_unlock(&mw_controls_lock);
		return ret;
	}
	w->id = ctl->next_id++;
	w->ctl = ctl;
	kref_get(&ctl->ref);
	list_add_tail(&w->node, &ctl->windows);
	ctl->nwindows++;
	mutex_unlock(&ctl->lock);
	mutex_unlock(&mw_controls_lock);
	return 0;
}

static int mw_create(struct mw_control *ctl, struct mmio_window_create *a, struct file **filep)
{
	struct mw_range r;
	struct mw_window *w;
	void __iomem *va;
	struct file *file;
	int ret;

	ret = mw_resolve(a, &r);
	if (ret)
		return ret;
	ret = mw_reserve(a, &r, &va);
	if (ret)
		goto fail_reserve;
	w = mw_window_alloc(a, &r);
	if (!w) {
		ret = mw_refuse(a, MMIO_WINDOW_NO_MEMORY, -ENOMEM);
		goto fail_alloc;
	}
	w->reservation = va;
	file = mw_file_make(w);
	if (IS_ERR(file)) {
		ret = mw_refuse(a, MMIO_WINDOW_NO_MEMORY, PTR_ERR(file));
		goto fail_file;
	}
	ret = mw_window_link(ctl, w, a);
	if (ret)
		goto fail_link;
	a->id = w->id;
	a->phys = r.phys;
	*filep = file;
	return 0;

fail_link:
	/* Not linked: the release must not see it. */
	file->private_data = NULL;
	fput(file);
fail_file:
	kfree(w);
fail_alloc:
	iounmap(va);
fail_reserve:
	pci_dev_put(r.pdev);
	return ret;
}

static long mw_ioctl_create(struct mw_control *ctl, void __user *uarg)
{
	struct mmio_window_create a;
	struct file *file = NULL;
	int fd = -1, ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	a.refusal = MMIO_WINDOW_OK;
	a.fd = -1;
	a.id = 0;
	a.phys = 0;
	ret = mw_create_validate(&a);
	a.applied = a.cache;
	if (ret) {
		if (a.refusal == MMIO_WINDOW_OK)
			a.refusal = MMIO_WINDOW_BAD_ARGUMENT;
	} else {
		fd = get_unused_fd_flags(O_CLOEXEC);
		if (fd < 0)
			ret = mw_refuse(&a, MMIO_WINDOW_NO_MEMORY, fd);
		else
			ret = mw_create(ctl, &a, &file);
		if (ret && fd >= 0)
			put_unused_fd(fd);
		a.fd = ret ? -1 : fd;
	}
	if (copy_to_user(uarg, &a, sizeof(a))) {
		if (file) {
			fput(file);
			put_unused_fd(fd);
		}
		return -EFAULT;
	}
	if (file)
		fd_install(fd, file);
	return ret;
}

/* ---- REVOKE, STATS --------------------------------------------------- */

static struct mw_window *mw_find(struct mw_control *ctl, u64 id)
{
	struct mw_window *w;

	list_for_each_entry(w, &ctl->windows, node) if (w->id == id) return w;
	return NULL;
}

static long mw_ioctl_revoke(struct mw_control *ctl, void __user *uarg)
{
	struct mmio_window_revoke a;
	struct mw_window *w;
	int ret = 0;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || a.flags || a.reserved[0] || a.reserved[1])
		return -EINVAL;
	mutex_lock(&ctl->lock);
	w = mw_find(ctl, a.id);
	if (w)
		mw_revoke(ctl, w);
	else if (!a.id || a.id >= ctl->next_id)
		ret = -ENOENT;
	mutex_unlock(&ctl->lock);
	return ret;
}

static void mw_stats_add(struct mmio_window_stats *s, struct mw_window *w)
{
	s->windows++;
	s->live += !w->revoked;
	s->faults += atomic64_read(&w->faults);
	s->sigbus += atomic64_read(&w->sigbus);
	s->maps += atomic64_read(&w->maps);
	s->mapped += atomic64_read(&w->mapped);
}

static long mw_ioctl_stats(struct mw_control *ctl, void __user *uarg)
{
	struct mmio_window_stats in, s;
	struct mw_window *w;
	int i, ret = 0;

	if (copy_from_user(&in, uarg, sizeof(in)))
		return -EFAULT;
	if (in.size != sizeof(in) || in.flags)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(in.reserved); i++)
		if (in.reserved[i])
			return -EINVAL;
	s = (struct mmio_window_stats){
		.size = in.size,
		.id = in.id,
		.version = MMIO_WINDOW_ABI_VERSION,
	};
	mutex_lock(&ctl->lock);
	if (s.id) {
		w = mw_find(ctl, s.id);
		if (w) {
			mw_stats_add(&s, w);
			s.revoked = w->revoked;
		} else {
			ret = -ENOENT;
		}
	} else {
		list_for_each_entry(w, &ctl->windows, node) mw_stats_add(&s, w);
		s.windows = ctl->next_id - 1;
		s.revoked = ctl->revoked;
		s.faults += ctl->gone.faults;
		s.sigbus += ctl->gone.sigbus;
		s.maps += ctl->gone.maps;
	}
	mutex_unlock(&ctl->lock);
	if (!ret && copy_to_user(uarg, &s, sizeof(s)))
		ret = -EFAULT;
	return ret;
}

/* ---- interrupts ------------------------------------------------------- */

/*
 * Hard-interrupt context, on a line other functions may share: claim the
 * interrupt only if this function asserts it, and mask its INTx so that a
 * level-triggered line falls silent until the holder unmasks.
 */
static irqreturn_t mw_irq_handler(int irq, void *arg)
{
	struct mw_irq *q = arg;

	if (!pci_check_and_mask_intx(q->pdev))
		return IRQ_NONE;
	spin_lock(&q->lock);
	q->masked = true;
	if (!q->revoked) {
		q->pending++;
		q->total++;
	}
	spin_unlock(&q->lock);
	wake_up_interruptible_poll(&q->wait, EPOLLIN | EPOLLRDNORM);
	return IRQ_HANDLED;
}

/* An MSI is an edge the function sent: count it, nothing to mask. */
static irqreturn_t mw_msi_handler(int irq, void *arg)
{
	struct mw_irq *q = arg;

	spin_lock(&q->lock);
	if (!q->revoked) {
		q->pending++;
		q->total++;
	}
	spin_unlock(&q->lock);
	wake_up_interruptible_poll(&q->wait, EPOLLIN | EPOLLRDNORM);
	return IRQ_HANDLED;
}

/*
 * Unmask unless the function still asserts INTx: then, as VFIO does, the
 * interrupt that unmasking would raise at once is counted here instead,
 * and the line stays masked. @counted: an UNMASK call (INFO's unmasks),
 * not the unmask that ends IRQ_OPEN.
 */
static int mw_irq_unmask(struct mw_irq *q, bool counted)
{
	unsigned long flags;
	bool woke = false;
	int ret = 0;

	spin_lock_irqsave(&q->lock, flags);
	if (q->revoked) {
		ret = -ENODEV;
	} else if (q->masked && !q->msi) {
		if (pci_check_and_unmask_intx(q->pdev)) {
			q->masked = false;
			q->unmasks += counted;
		} else {
			q->pending++;
			q->total++;
			woke = true;
		}
	}
	spin_unlock_irqrestore(&q->lock, flags);
	if (woke)
		wake_up_interruptible_poll(&q->wait, EPOLLIN | EPOLLRDNORM);
	return ret;
}

/*
 * The kernel's MSI code keeps its per-device data as a devres of the
 * function, released at a driver's unbind; with no driver it would stay,
 * and the next driver's probe would fail ("Resources present before
 * probing"). So the vectors are allocated in a devres group of our own,
 * released with them.
 */
static int mw_msi_alloc(struct mw_irq *q)
{
	struct device *dev = &q->pdev->dev;
	int ret;

	q->msi_group = devres_open_group(dev, NULL, GFP_KERNEL);
	if (!q->msi_group)
		return -ENOMEM;
	ret = pci_alloc_irq_vectors(q->pdev, 1, 1, PCI_IRQ_MSI);
	devres_close_group(dev, q->msi_group);
	if (ret < 0) {
		devres_release_group(dev, q->msi_group);
		q->msi_group = NULL;
		return ret;
	}
	return 0;
}

static void mw_msi_free(struct mw_irq *q)
{
	pci_free_irq_vectors(q->pdev);
	if (q->msi_group)
		devres_release_group(&q->pdev->dev, q->msi_group);
	q->msi_group = NULL;
	pci_clear_master(q->pdev);
}

/* Called with ctl->lock held. Frees the line; the function stays masked. */
static void mw_irq_revoke(struct mw_irq *q)
{
	unsigned long flags;

	spin_lock_irqsave(&q->lock, flags);
	if (q->revoked) {
		spin_unlock_irqrestore(&q->lock, flags);
		return;
	}
	q->revoked = true;
	spin_unlock_irqrestore(&q->lock, flags);
	/* free_irq() waits for a running handler. Masked afterwards: with no
	 * handler left, an asserted line would be disabled as unhandled, and
	 * other functions sharing it with it. */
	free_irq(q->irq, q);
	if (q->msi)
		mw_msi_free(q);
	pci_intx(q->pdev, 0);
	pci_disable_device(q->pdev);
	wake_up_interruptible_poll(&q->wait, EPOLLIN | EPOLLRDNORM | EPOLLERR | EPOLLHUP);
}

/* The last reference to the interrupt's file, or an open that failed late. */
static void mw_irq_destroy(struct mw_irq *q)
{
	struct mw_control *ctl = q->ctl;

	mutex_lock(&ctl->lock);
	mw_irq_revoke(q);
	list_del(&q->node);
	mutex_unlock(&ctl->lock);
	kref_put(&ctl->ref, mw_ctl_free);
	pci_dev_put(q->pdev);
	kfree(q);
}

static int mw_irq_release(struct inode *inode, struct file *file)
{
	mw_irq_destroy(file->private_data);
	return 0;
}

static ssize_t mw_irq_read(struct file *file, char __user *buf, size_t len, loff_t *pos)
{
	struct mw_irq *q = file->private_data;
	u64 n;
	int ret;

	if (len < sizeof(n))
		return -EINVAL;
	for (;;) {
		spin_lock_irq(&q->lock);
		if (q->revoked) {
			spin_unlock_irq(&q->lock);
			return -ENODEV;
		}
		n = q->pending;
		q->pending = 0;
		spin_unlock_irq(&q->lock);
		if (n)
			break;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(q->wait,
					       READ_ONCE(q->pending) || READ_ONCE(q->revoked));
		if (ret)
			return ret;
	}
	if (put_user(n, (u64 __user *)buf)) {
		spin_lock_irq(&q->lock);
		q->pending += n; /* not delivered: keep them */
		spin_unlock_irq(&q->lock);
		return -EFAULT;
	}
	return sizeof(n);
}

static __poll_t mw_irq_poll(struct file *file, poll_table *pt)
{
	struct mw_irq *q = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &q->wait, pt);
	spin_lock_irq(&q->lock);
	if (q->revoked)
		mask = EPOLLIN | EPOLLRDNORM | EPOLLERR | EPOLLHUP;
	else if (q->pending)
		mask = EPOLLIN | EPOLLRDNORM;
	spin_unlock_irq(&q->lock);
	return mask;
}

static void mw_irq_info_fill(struct mw_irq *q, struct mmio_window_irq_info *s)
{
	*s = (struct mmio_window_irq_info){ .size = sizeof(*s), .id = q->id };
	spin_lock_irq(&q->lock);
	s->total = q->total;
	s->pending = q->pending;
	s->unmasks = q->unmasks;
	s->irq = q->revoked ? 0 : q->irq;
	s->state = (q->masked ? MMIO_WINDOW_IRQ_MASKED : 0) |
		   (q->revoked ? MMIO_WINDOW_IRQ_REVOKED : 0) |
		   (q->msi ? MMIO_WINDOW_IRQ_IS_MSI : 0);
	spin_unlock_irq(&q->lock);
}

static long mw_irq_ioctl_info(struct mw_irq *q, void __user *uarg)
{
	struct mmio_window_irq_info in, s;

	if (copy_from_user(&in, uarg, sizeof(in)))
		return -EFAULT;
	if (in.size != sizeof(in) || in.flags || in.reserved[0] || in.reserved[1])
		return -EINVAL;
	mw_irq_info_fill(q, &s);
	return copy_to_user(uarg, &s, sizeof(s)) ? -EFAULT : 0;
}

/* No capability check: the descriptor is the capability, handed out by
 * the holder of the control descriptor. */
static long mw_irq_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mw_irq *q = file->private_data;

	switch (cmd) {
	case MMIO_WINDOW_IRQ_IOC_UNMASK:
		return arg ? -EINVAL : mw_irq_unmask(q, true);
	case MMIO_WINDOW_IRQ_IOC_INFO:
		return mw_irq_ioctl_info(q, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations mw_irq_fops = {
	.owner = THIS_MODULE,
	.release = mw_irq_release,
	.read = mw_irq_read,
	.poll = mw_irq_poll,
	.unlocked_ioctl = mw_irq_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static int mw_irq_validate(const struct mmio_window_irq_open *a)
{
	int i;

	if (a->size != sizeof(*a) || (a->flags & ~MMIO_WINDOW_IRQ_MSI) || a->pad0 || a->pad1 ||
	    a->pci_slot > 31 || a->pci_function > 7)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		if (a->reserved[i])
			return -EINVAL;
	return 0;
}

/* Under mw_controls_lock: does an open interrupt, of any control, hold @pdev? */
static bool mw_irq_held(struct pci_dev *pdev)
{
	struct mw_control *ctl;
	struct mw_irq *q;
	bool held = false;

	list_for_each_entry(ctl, &mw_controls, node)
	{
		mutex_lock(&ctl->lock);
		list_for_each_entry(q, &ctl->irqs, node) if (q->pdev == pdev && !q->revoked) held =
			true;
		mutex_unlock(&ctl->lock);
	}
	return held;
}

/*
 * Request @q's line and link @q into @ctl, under mw_controls_lock so that
 * neither a second opener nor a binding driver (the kernel sets
 * dev->driver before it notifies the bind) can slip in between the checks
 * and the link. On failure q->pdev's reference is still the caller's.
 */
static int mw_irq_attach(struct mw_control *ctl, struct mw_irq *q, struct mmio_window_irq_open *a)
{
	struct pci_dev *pdev = q->pdev;
	u8 pin = 0;
	int ret;

	mutex_lock(&mw_controls_lock);
	if (READ_ONCE(pdev->dev.driver)) {
		ret = mw_refuse_irq(a, MMIO_WINDOW_DRIVER_BOUND, -EBUSY);
		goto out;
	}
	if (mw_irq_held(pdev)) {
		ret = mw_refuse_irq(a, MMIO_WINDOW_IRQ_HELD, -EBUSY);
		goto out;
	}
	pci_read_config_byte(pdev, PCI_INTERRUPT_PIN, &pin);
	if (q->msi ? !pci_find_capability(pdev, PCI_CAP_ID_MSI)
		   : !pin || !pci_intx_mask_supported(pdev)) {
		ret = mw_refuse_irq(a, MMIO_WINDOW_NO_IRQ, -ENXIO);
		goto out;
	}
	/* Routes the line through ACPI (level, low) and sets pdev->irq. */
	ret = pci_enable_device(pdev);
	if (ret) {
		ret = mw_refuse_irq(a, MMIO_WINDOW_NO_DEVICE, -ENODEV);
		goto out;
	}
	pci_intx(pdev, 0);
	if (q->msi) {
		/* The message is a write the function makes: it must master. */
		pci_set_master(pdev);
		ret = mw_msi_alloc(q);
		if (ret < 0) {
			pci_clear_master(pdev);
			ret = mw_refuse_irq(
				a, ret == -ENOMEM ? MMIO_WINDOW_NO_MEMORY : MMIO_WINDOW_NO_IRQ,
				ret == -ENOMEM ? -ENOMEM : -ENXIO);
			goto fail_intx;
		}
		q->irq = pci_irq_vector(pdev, 0);
		ret = request_irq(q->irq, mw_msi_handler, 0, "mmio-irq", q);
	} else if (!pdev->irq) {
		ret = mw_refuse_irq(a, MMIO_WINDOW_NO_IRQ, -ENXIO);
		goto fail_enabled;
	} else {
		q->irq = pdev->irq;
		q->masked = true;
		ret = request_irq(q->irq, mw_irq_handler, IRQF_SHARED, "mmio-irq", q);
	}
	if (ret) {
		ret = mw_refuse_irq(a, ret == -ENOMEM ? MMIO_WINDOW_NO_MEMORY : MMIO_WINDOW_NO_IRQ,
				    ret);
		goto fail_vectors;
	}
	mutex_lock(&ctl->lock);
	q->id = ctl->next_irq_id++;
	q->ctl = ctl;
	kref_get(&ctl->ref);
	list_add_tail(&q->node, &ctl->irqs);
	mutex_unlock(&ctl->lock);
	mutex_unlock(&mw_controls_lock);
	mw_irq_unmask(q, false);
	return 0;

fail_vectors:
	if (q->msi)
		mw_msi_free(q);
fail_intx:
	pci_intx(pdev, 0);
fail_enabled:
	pci_disable_device(pdev);
out:
	mutex_unlock(&mw_controls_lock);
	return ret;
}

static int mw_irq_open(struct mw_control *ctl, struct mmio_window_irq_open *a, struct file **filep)
{
	struct pci_dev *pdev;
	struct mw_irq *q;
	struct file *file;
	int ret;

	pdev = pci_get_domain_bus_and_slot(a->pci_domain, a->pci_bus,
					   PCI_DEVFN(a->pci_slot, a->pci_function));
	if (!pdev)
		return mw_refuse_irq(a, MMIO_WINDOW_NO_DEVICE, -ENODEV);
	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q) {
		pci_dev_put(pdev);
		return mw_refuse_irq(a, MMIO_WINDOW_NO_MEMORY, -ENOMEM);
	}
	spin_lock_init(&q->lock);
	init_waitqueue_head(&q->wait);
	q->pdev = pdev;
	q->msi = a->flags & MMIO_WINDOW_IRQ_MSI;
	ret = mw_irq_attach(ctl, q, a);
	if (ret) {
		pci_dev_put(pdev);
		kfree(q);
		return ret;
	}
	/* From here on q is linked: mw_irq_destroy() undoes everything. */
	file = anon_inode_getfile("[mmio-irq]", &mw_irq_fops, q, O_RDWR);
	if (IS_ERR(file)) {
		mw_irq_destroy(q);
		return mw_refuse_irq(a, MMIO_WINDOW_NO_MEMORY, PTR_ERR(file));
	}
	a->id = q->id;
	a->irq = q->irq;
	*filep = file;
	return 0;
}

static long mw_ioctl_irq_open(struct mw_control *ctl, void __user *uarg)
{
	struct mmio_window_irq_open a;
	struct file *file = NULL;
	int fd = -1, ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	a.refusal = MMIO_WINDOW_OK;
	a.fd = -1;
	a.id = 0;
	a.irq = 0;
	ret = mw_irq_validate(&a);
	if (ret) {
		a.refusal = MMIO_WINDOW_BAD_ARGUMENT;
	} else {
		fd = get_unused_fd_flags(O_CLOEXEC);
		if (fd < 0)
			ret = mw_refuse_irq(&a, MMIO_WINDOW_NO_MEMORY, fd);
		else
			ret = mw_irq_open(ctl, &a, &file);
		if (ret && fd >= 0)
			put_unused_fd(fd);
		a.fd = ret ? -1 : fd;
		if (ret) {
			a.id = 0;
			a.irq = 0;
		}
	}
	if (copy_to_user(uarg, &a, sizeof(a))) {
		if (file) {
			fput(file);
			put_unused_fd(fd);
		}
		return -EFAULT;
	}
	if (file)
		fd_install(fd, file);
	return ret;
}

static long mw_ioctl_irq_revoke(struct mw_control *ctl, void __user *uarg)
{
	struct mmio_window_revoke a;
	struct mw_irq *q;
	int ret = -ENOENT;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || (a.flags & ~MMIO_WINDOW_IRQ_PROBE) || a.reserved[0] ||
	    a.reserved[1])
		return -EINVAL;
	mutex_lock(&ctl->lock);
	list_for_each_entry(q, &ctl->irqs, node)
	{
		if (q->id != a.id)
			continue;
		if (!(a.flags & MMIO_WINDOW_IRQ_PROBE))
			mw_irq_revoke(q);
		ret = (a.flags & MMIO_WINDOW_IRQ_PROBE) && READ_ONCE(q->revoked) ? -ESRCH : 0;
	}
	if (ret == -ENOENT && a.id && a.id < ctl->next_irq_id) /* closed everywhere */
		ret = (a.flags & MMIO_WINDOW_IRQ_PROBE) ? -ESRCH : 0;
	mutex_unlock(&ctl->lock);
	return ret;
}

/*
 * INFO of interrupt @id of this control, for its opener, which does not
 * keep the interrupt descriptor: @id is input here.
 */
static long mw_ioctl_irq_info(struct mw_control *ctl, void __user *uarg)
{
	struct mmio_window_irq_info in, s;
	struct mw_irq *q;
	int ret = -ENOENT;

	if (copy_from_user(&in, uarg, sizeof(in)))
		return -EFAULT;
	if (in.size != sizeof(in) || in.flags || in.reserved[0] || in.reserved[1])
		return -EINVAL;
	mutex_lock(&ctl->lock);
	list_for_each_entry(q, &ctl->irqs, node)
	{
		if (q->id == in.id) {
			mw_irq_info_fill(q, &s);
			ret = 0;
			break;
		}
	}
	mutex_unlock(&ctl->lock);
	if (ret)
		return ret;
	return copy_to_user(uarg, &s, sizeof(s)) ? -EFAULT : 0;
}

/* ---- the control device ---------------------------------------------- */

static long mw_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mw_control *ctl = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* Again at each call: a descriptor may have been passed on, or the
	 * opener may have dropped the capability since. */
	if (!capable(CAP_SYS_RAWIO))
		return -EPERM;
	switch (cmd) {
	case MMIO_WINDOW_IOC_CREATE:
		return mw_ioctl_create(ctl, uarg);
	case MMIO_WINDOW_IOC_REVOKE:
		return mw_ioctl_revoke(ctl, uarg);
	case MMIO_WINDOW_IOC_STATS:
		return mw_ioctl_stats(ctl, uarg);
	case MMIO_WINDOW_IOC_IRQ_OPEN:
		return mw_ioctl_irq_open(ctl, uarg);
	case MMIO_WINDOW_IOC_IRQ_REVOKE:
		return mw_ioctl_irq_revoke(ctl, uarg);
	case MMIO_WINDOW_IOC_IRQ_INFO:
		return mw_ioctl_irq_info(ctl, uarg);
	default:
		return -ENOTTY;
	}
}

static int mw_ctl_open(struct inode *inode, struct file *file)
{
	struct mw_control *ctl;

	if (!capable(CAP_SYS_RAWIO))
		return -EPERM;
	ctl = kzalloc(sizeof(*ctl), GFP_KERNEL);
	if (!ctl)
		return -ENOMEM;
	kref_init(&ctl->ref);
	mutex_init(&ctl->lock);
	INIT_LIST_HEAD(&ctl->windows);
	INIT_LIST_HEAD(&ctl->irqs);
	ctl->next_id = 1;
	ctl->next_irq_id = 1;
	file->private_data = ctl;
	mutex_lock(&mw_controls_lock);
	list_add(&ctl->node, &mw_controls);
	mutex_unlock(&mw_controls_lock);
	return 0;
}

/* The server closed (or lost) its control descriptor: fail closed. */
static int mw_ctl_release(struct inode *inode, struct file *file)
{
	struct mw_control *ctl = file->private_data;
	struct mw_window *w;
	struct mw_irq *q;

	/* Revoked under mw_controls_lock: once this control is off the list,
	 * mw_irq_held() cannot see its interrupts, so they must be free. */
	mutex_lock(&mw_controls_lock);
	list_del(&ctl->node);
	mutex_lock(&ctl->lock);
	list_for_each_entry(w, &ctl->windows, node) mw_revoke(ctl, w);
	list_for_each_entry(q, &ctl->irqs, node) mw_irq_revoke(q);
	mutex_unlock(&ctl->lock);
	mutex_unlock(&mw_controls_lock);
	kref_put(&ctl->ref, mw_ctl_free);
	return 0;
}

static const struct file_operations mw_ctl_fops = {
	.owner = THIS_MODULE,
	.open = mw_ctl_open,
	.release = mw_ctl_release,
	.unlocked_ioctl = mw_ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice mw_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mmio-window",
	.fops = &mw_ctl_fops,
	.mode = 0600,
};

/* ---- PCI functions that bind a driver or go away ----------------------- */

/*
 * A window must not outlive the conditions it was made under: when a
 * kernel driver binds to the function (the notice comes before its probe)
 * or the function is removed, every window of it is revoked.
 */
static int mw_pci_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	struct pci_dev *pdev = to_pci_dev(data);
	struct mw_control *ctl;
	struct mw_window *w;
	struct mw_irq *q;
	const char *why;

	if (action == BUS_NOTIFY_BIND_DRIVER)
		why = "a driver is binding to the function";
	else if (action == BUS_NOTIFY_DEL_DEVICE)
		why = "the function is being removed";
	else
		return NOTIFY_DONE;
	mutex_lock(&mw_controls_lock);
	list_for_each_entry(ctl, &mw_controls, node)
	{
		mutex_lock(&ctl->lock);
		list_for_each_entry(w, &ctl->windows, node) if (w->pdev == pdev && !w->revoked)
		{
			mw_revoke(ctl, w);
			pci_info(pdev, "mmio-window: window %llu revoked: %s\n", w->id, why);
		}
		list_for_each_entry(q, &ctl->irqs, node) if (q->pdev == pdev && !q->revoked)
		{
			mw_irq_revoke(q);
			pci_info(pdev, "mmio-window: interrupt %llu revoked: %s\n", q->id, why);
		}
		mutex_unlock(&ctl->lock);
	}
	mutex_unlock(&mw_controls_lock);
	return NOTIFY_OK;
}

static struct notifier_block mw_pci_nb = {
	.notifier_call = mw_pci_notify,
};

/* ---- the pseudo file system: one inode per window --------------------- */

static int mw_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, MW_FS_MAGIC) ? 0 : -ENOMEM;
}

/* No .owner: the kernel mount must not pin the module it belongs to. */
static struct file_system_type mw_fs_type = {
	.name = "mmio_window",
	.init_fs_context = mw_init_fs_context,
	.kill_sb = kill_anon_super,
};

static int __init mw_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct mmio_window_create) != MMIO_WINDOW_CREATE_SIZE_V1);
	BUILD_BUG_ON(sizeof(struct mmio_window_revoke) != MMIO_WINDOW_REVOKE_SIZE_V1);
	BUILD_BUG_ON(sizeof(struct mmio_window_stats) != MMIO_WINDOW_STATS_SIZE_V1);
	BUILD_BUG_ON(sizeof(struct mmio_window_irq_open) != MMIO_WINDOW_IRQ_OPEN_SIZE_V1);
	BUILD_BUG_ON(sizeof(struct mmio_window_irq_info) != MMIO_WINDOW_IRQ_INFO_SIZE_V1);
	mw_mnt = kern_mount(&mw_fs_type);
	if (IS_ERR(mw_mnt))
		return PTR_ERR(mw_mnt);
	ret = bus_register_notifier(&pci_bus_type, &mw_pci_nb);
	if (ret)
		goto fail_notifier;
	ret = misc_register(&mw_misc);
	if (ret)
		goto fail_misc;
	pr_info("mmio-window: /dev/mmio-window ready (ABI %d)\n", MMIO_WINDOW_ABI_VERSION);
	return 0;

fail_misc:
	bus_unregister_notifier(&pci_bus_type, &mw_pci_nb);
fail_notifier:
	kern_unmount(mw_mnt);
	return ret;
}

static void __exit mw_exit(void)
{
	misc_deregister(&mw_misc);
	bus_unregister_notifier(&pci_bus_type, &mw_pci_nb);
	kern_unmount(mw_mnt);
}

module_init(mw_init);
module_exit(mw_exit);

MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("mmio: page-exact, cache-exact, revocable windows on device memory");
MODULE_AUTHOR("the mmio project");
