#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# doc-links.sh SRC_DIR: no file cites a document the repository does not
# hold. Every text file of the tree (sources, headers, markdown, man pages,
# scripts, build files; not build*/ or .git/) is read, and it fails, naming
# FILE:LINE, on:
#  - a *.md name that is no file of the tree: a name with a slash is taken
#    from the citing file's folder or from the top; a bare name may be any
#    file of that name (comments say "POLICY.md" for config/POLICY.md);
#  - a "§N" or "§N.M" whose document (the last *.md cited before it on the
#    line, else the markdown file it is in) has no heading numbered so;
#  - a relative markdown link [text](path) whose target is not there;
#  - the design notes and API notes that were never published, by name,
#    whether or not a file of that name appears.
set -euo pipefail
src=$(cd "${1:?usage: doc-links.sh SRC_DIR}" && pwd)
cd "$src"
command -v perl >/dev/null || { echo "FAIL: perl is missing (Debian's perl-base)"; exit 1; }

list=$(mktemp)
trap 'rm -f "$list"' EXIT
find . \( -name .git -o -path './build' -o -path './build*' \) -prune -o -type f -print |
	sed 's|^\./||' | LC_ALL=C sort >"$list"

perl -e '
	use strict;
	use warnings;
	my $list = shift;
	open(my $lf, "<", $list) or die "$list: $!";
	my @files = map { chomp; $_ } <$lf>;
	close($lf);
	my %have = map { $_ => 1 } @files;
	my %dir;
	for my $f (@files) {
		my @p = split m{/}, $f;
		pop @p;
		$dir{join("/", @p[0 .. $_])} = 1 for 0 .. $#p;
	}
	my %base; # a bare name: the first file of that name
	for my $f (@files) { (my $b = $f) =~ s{.*/}{}; $base{$b} //= $f; }

	# "a/b/../c" from the folder of the citing file, or undef if it climbs out.
	sub norm {
		my @out;
		for my $part (split m{/}, shift) {
			next if $part eq "" || $part eq ".";
			if ($part eq "..") { return undef unless @out; pop @out; next; }
			push @out, $part;
		}
		return join("/", @out);
	}
	sub folder { my $f = shift; return $f =~ m{^(.*)/} ? $1 : ""; }
	# The repository file a citation in $from names, or undef.
	sub resolve {
		my ($from, $ref) = @_;
		for my $cand (norm(folder($from) . "/" . $ref), norm($ref)) {
			return $cand if defined $cand && ($have{$cand} || $dir{$cand});
		}
		return $base{$ref} if $ref !~ m{/} && $base{$ref};
		return undef;
	}
	my %headings;
	sub has_section {
		my ($doc, $num) = @_;
		unless ($headings{$doc}) {
			my %h;
			if (open(my $d, "<", $doc)) {
				while (<$d>) { $h{$1} = 1 if /^#+\s+([0-9]+(?:\.[0-9]+)*)[.\s]/; }
				close($d);
			}
			$headings{$doc} = \%h;
		}
		return $headings{$doc}{$num};
	}
	my $unpublished = qr/\b((?:DESIGN|API)\.md)\b/;
	my $bad = 0;
	for my $f (@files) {
		open(my $fh, "<", $f) or next;
		binmode($fh);
		my $head;
		read($fh, $head, 4096);
		if (!defined $head || index($head, "\0") >= 0) { close($fh); next; } # not text
		seek($fh, 0, 0);
		my $md = $f =~ /\.md$/;
		while (my $line = <$fh>) {
			my $n = $.;
			if ($line =~ $unpublished) {
				print "$f:$n: cites $1, which users never see: cite what the repository carries\n";
				$bad++;
			}
			# A shell or CMake variable before a slash stands for a folder of the tree.
			(my $text = $line) =~ s{\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/}{}g;
			# *.md names, and the sections after them.
			my $doc = $md ? $f : undef;
			while ($text =~ m{((?:[a-z][a-z0-9+.-]*://)?(?:\.\.?/)*[A-Za-z0-9_][A-Za-z0-9_./-]*\.md)\b|\x{c2}\x{a7}\s*([0-9]+(?:\.[0-9]+)*)}g) {
				if (defined $1) {
					my $ref = $1;
					next if $ref =~ m{://};	# a web address: not ours to check
					next if $ref =~ $unpublished;
					my $to = resolve($f, $ref);
					if (!defined $to) {
						print "$f:$n: cites $ref, which is not in the repository\n";
						$bad++;
						$doc = undef;
					} else {
						$doc = $have{$to} ? $to : undef;
					}
				} else {
					my $num = $2;
					if (!defined $doc) {
						print "$f:$n: \x{c2}\x{a7}$num names no document of the repository\n";
						$bad++;
					} elsif (!has_section($doc, $num)) {
						print "$f:$n: \x{c2}\x{a7}$num: $doc has no section $num\n";
						$bad++;
					}
				}
			}
			# Relative markdown links.
			next unless $md;
			while ($line =~ m{\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)}g) {
				my $target = $1;
				next if $target =~ m{^[a-z][a-z0-9+.-]*:}i || $target =~ /^#/;
				$target =~ s/#.*//;
				my $to = norm(folder($f) . "/" . $target);
				next if defined $to && ($have{$to} || $dir{$to});
				print "$f:$n: links to $target, which is not in the repository\n";
				$bad++;
			}
		}
		close($fh);
	}
	my $count = @files;
	if ($bad) {
		print "FAIL: $bad citation(s) of documents the repository does not hold (above)\n";
		exit 1;
	}
	print "ok: $count files cite only documents and sections the repository holds\n";
' "$list"
