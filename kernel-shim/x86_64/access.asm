; SPDX-License-Identifier: MIT
;
; kernel-shim access primitives: the only instructions of mmio that touch
; device memory.
;
; Rules:
; - device-side accesses are plain MOVs of the stated width, naturally
;   aligned, never wider than 8 bytes and never string instructions: these
;   are the forms devices expect and that TDX #VE / SEV-ES #VC handlers can
;   emulate;
; - every access that may fault (device side and caller-buffer side) carries
;   an entry in the mmio_extable section. kernel-shim/fault.c resumes a
;   faulting access at its fixup, which returns the exact progress made;
; - table entries are 32-bit PC-relative, so the object links into PIE
;   executables and shared libraries without text relocations.
;
; Progress accounting in the copy and fill routines: RAX counts the bytes
; whose transfer has fully completed. It is advanced only after both the
; load and the store of a chunk retired, so a fixup that returns RAX (plus
; the completed slots of an unrolled group) reports the exact count. x86
; commits no part of a store that faults, and aligned device accesses never
; straddle a page, so "done" ends exactly at the faulting page boundary.

default rel
bits 64

%define MMIO_EFAULT -3

; The exception table: pairs of (faulting instruction, fixup), each field
; "target - address of the field". The linker provides __start_/__stop_
; symbols for it because its name is a C identifier. The anchor at its
; start is what kernel-shim/fault.c refers to so that linkers that collect
; unreferenced sections keep it (lld does not count __start_ references).
section mmio_extable progbits alloc noexec nowrite align=4
global shim_extable_anchor:data hidden
shim_extable_anchor:

section .text

%macro EXTABLE 2
[section mmio_extable]
	dd %1 - $
	dd %2 - $
__SECT__
%endmacro

; FAULTY fixup, instruction: emit an instruction that may fault, labelled,
; with its exception-table entry.
%macro FAULTY 2+
%%insn:	%2
	EXTABLE %%insn, %1
%endmacro

; Fixup shared by the once-ops: nothing was stored, report the fault.
align 16
once_fault:
	mov eax, MMIO_EFAULT
	ret

; Fixup shared by copy/fill: RAX already holds the completed byte count.
align 16
progress_fault:
	ret

; ---------------------------------------------------------------------------
; Once-ops.
;
; int shim_raw_readN(const void *dev, uintN_t *out)
;   in:  rdi = device address (aligned to N/8 by the caller), rsi = out
;   out: eax = 0 and *out = value, or eax = MMIO_EFAULT (*out untouched)
;   clobbers: rax, rcx, flags
;   may fault: the single load from [rdi]
;
; int shim_raw_writeN(void *dev, uintN_t value)
;   in:  rdi = device address (aligned to N/8), rsi = value (low N bits)
;   out: eax = 0, or MMIO_EFAULT if the store faulted (nothing written)
;   clobbers: rax, flags
;   may fault: the single store to [rdi]
; ---------------------------------------------------------------------------

align 16
global shim_raw_read8:function hidden
shim_raw_read8:
	FAULTY once_fault, movzx ecx, byte [rdi]
	mov [rsi], cl
	xor eax, eax
	ret

align 16
global shim_raw_read16:function hidden
shim_raw_read16:
	FAULTY once_fault, movzx ecx, word [rdi]
	mov [rsi], cx
	xor eax, eax
	ret

align 16
global shim_raw_read32:function hidden
shim_raw_read32:
	FAULTY once_fault, mov ecx, dword [rdi]
	mov [rsi], ecx
	xor eax, eax
	ret

align 16
global shim_raw_read64:function hidden
shim_raw_read64:
	FAULTY once_fault, mov rcx, qword [rdi]
	mov [rsi], rcx
	xor eax, eax
	ret

align 16
global shim_raw_write8:function hidden
shim_raw_write8:
	FAULTY once_fault, mov byte [rdi], sil
	xor eax, eax
	ret

align 16
global shim_raw_write16:function hidden
shim_raw_write16:
	FAULTY once_fault, mov word [rdi], si
	xor eax, eax
	ret

align 16
global shim_raw_write32:function hidden
shim_raw_write32:
	FAULTY once_fault, mov dword [rdi], esi
	xor eax, eax
	ret

align 16
global shim_raw_write64:function hidden
shim_raw_write64:
	FAULTY once_fault, mov qword [rdi], rsi
	xor eax, eax
	ret

; ---------------------------------------------------------------------------
; Copies. Both directions move [rsi] -> [rdi]; they differ in which pointer
; is the device and therefore decides the access alignment.
; ---------------------------------------------------------------------------

; XFER bytes, register: move one chunk [rsi] -> [rdi] and account for it.
%macro XFER 2
	FAULTY progress_fault, mov %2, [rsi]
	FAULTY progress_fault, mov [rdi], %2
	add rsi, %1
	add rdi, %1
	sub rdx, %1
	add rax, %1
%endmacro

; PINNED_LOOP bytes, register: chunks of exactly that width until fewer
; than that many bytes remain (the caller passes a multiple).
%macro PINNED_LOOP 2
%%again:
	cmp rdx, %1
	jb .done
	XFER %1, %2
	jmp %%again
%endmacro

; COPY_BODY devptr: the whole copy routine, device alignment taken from
; devptr (rsi for copies from the device, rdi for copies to it).
;   in:  rdi = destination, rsi = source, rdx = length,
;        ecx = width (0: natural, widest aligned access up to 8 bytes;
;        1/2/4/8: every device access exactly that wide; anything else
;        copies nothing)
;   out: rax = bytes copied; less than rdx only if an access faulted
;   clobbers: rcx, rdx, rsi, rdi, r8-r11, flags
;   may fault: every load from [rsi] and every store to [rdi]
%macro COPY_BODY 1
	xor eax, eax
	test ecx, ecx
	jnz .pinned

	; Head: bring the device pointer to 8-byte alignment.
	test rdx, rdx
	jz .done
	test %1, 1
	jz .head2
	XFER 1, r8b
.head2:
	cmp rdx, 2
	jb .tail1
	test %1, 2
	jz .head4
	XFER 2, r8w
.head4:
	cmp rdx, 4
	jb .tail2
	test %1, 4
	jz .body
	XFER 4, r8d

	; Body: 8-byte accesses, four per iteration. Each slot's load and
	; store are adjacent, so a fault in slot k means slots 0..k-1 are done.
.body:
	cmp rdx, 32
	jb .body8
.loop32:
	FAULTY progress_fault, mov r8, [rsi]
	FAULTY progress_fault, mov [rdi], r8
	FAULTY .slot1, mov r9, [rsi + 8]
	FAULTY .slot1, mov [rdi + 8], r9
	FAULTY .slot2, mov r10, [rsi + 16]
	FAULTY .slot2, mov [rdi + 16], r10
	FAULTY .slot3, mov r11, [rsi + 24]
	FAULTY .slot3, mov [rdi + 24], r11
	add rsi, 32
	add rdi, 32
	add rax, 32
	sub rdx, 32
	cmp rdx, 32
	jae .loop32
.body8:
	cmp rdx, 8
	jb .tail4
	XFER 8, r8
	jmp .body8

	; Tail: the device pointer is aligned for each of these.
.tail4:
	cmp rdx, 4
	jb .tail2
	XFER 4, r8d
.tail2:
	cmp rdx, 2
	jb .tail1
	XFER 2, r8w
.tail1:
	test rdx, rdx
	jz .done
	XFER 1, r8b
.done:
	ret

.slot1:
	add rax, 8
	ret
.slot2:
	add rax, 16
	ret
.slot3:
	add rax, 24
	ret

.pinned:
	cmp ecx, 8
	je .pinned8
	cmp ecx, 4
	je .pinned4
	cmp ecx, 2
	je .pinned2
	cmp ecx, 1
	jne .done
	PINNED_LOOP 1, r8b
.pinned2:
	PINNED_LOOP 2, r8w
.pinned4:
	PINNED_LOOP 4, r8d
.pinned8:
	PINNED_LOOP 8, r8
%endmacro

; size_t shim_raw_copy_from(void *dst, const void *dev, size_t len, unsigned width)
align 16
global shim_raw_copy_from:function hidden
shim_raw_copy_from:
	COPY_BODY rsi

; size_t shim_raw_copy_to(void *dev, const void *src, size_t len, unsigned width)
align 16
global shim_raw_copy_to:function hidden
shim_raw_copy_to:
	COPY_BODY rdi

; ---------------------------------------------------------------------------
; size_t shim_raw_fill(void *dev, unsigned byte, size_t len, unsigned width)
;   in:  rdi = device address, sil = byte, rdx = length, ecx = width as for
;        the copies
;   out: rax = bytes written; less than rdx only if a store faulted
;   clobbers: rdx, rdi, r8, r9, flags
;   may fault: every store to [rdi]
; ---------------------------------------------------------------------------

; STORE bytes, register: store one chunk of the pattern and account for it.
%macro STORE 2
	FAULTY progress_fault, mov [rdi], %2
	add rdi, %1
	sub rdx, %1
	add rax, %1
%endmacro

%macro PINNED_STORE_LOOP 2
%%again:
	cmp rdx, %1
	jb .done
	STORE %1, %2
	jmp %%again
%endmacro

align 16
global shim_raw_fill:function hidden
shim_raw_fill:
	movzx r8d, sil
	mov r9, 0x0101010101010101
	imul r8, r9
	xor eax, eax
	test ecx, ecx
	jnz .pinned

	test rdx, rdx
	jz .done
	test rdi, 1
	jz .head2
	STORE 1, r8b
.head2:
	cmp rdx, 2
	jb .tail1
	test rdi, 2
	jz .head4
	STORE 2, r8w
.head4:
	cmp rdx, 4
	jb .tail2
	test rdi, 4
	jz .body
	STORE 4, r8d

.body:
	cmp rdx, 32
	jb .body8
.loop32:
	FAULTY progress_fault, mov [rdi], r8
	FAULTY .slot1, mov [rdi + 8], r8
	FAULTY .slot2, mov [rdi + 16], r8
	FAULTY .slot3, mov [rdi + 24], r8
	add rdi, 32
	add rax, 32
	sub rdx, 32
	cmp rdx, 32
	jae .loop32
.body8:
	cmp rdx, 8
	jb .tail4
	STORE 8, r8
	jmp .body8

.tail4:
	cmp rdx, 4
	jb .tail2
	STORE 4, r8d
.tail2:
	cmp rdx, 2
	jb .tail1
	STORE 2, r8w
.tail1:
	test rdx, rdx
	jz .done
	STORE 1, r8b
.done:
	ret

.slot1:
	add rax, 8
	ret
.slot2:
	add rax, 16
	ret
.slot3:
	add rax, 24
	ret

.pinned:
	cmp ecx, 8
	je .pinned8
	cmp ecx, 4
	je .pinned4
	cmp ecx, 2
	je .pinned2
	cmp ecx, 1
	jne .done
	PINNED_STORE_LOOP 1, r8b
.pinned2:
	PINNED_STORE_LOOP 2, r8w
.pinned4:
	PINNED_STORE_LOOP 4, r8d
.pinned8:
	PINNED_STORE_LOOP 8, r8

section .note.GNU-stack noalloc noexec nowrite progbits
