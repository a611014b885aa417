#!/usr/bin/perl
# The error registry check (include/hkms/errors.def, STYLE.md section 3):
#  - every code raised with hkms_err_setc() in src/ and hsm/ is in the
#    table, with the rc of its row;
#  - every code of the x509 verification table and every rc name of
#    hkms_strerror() is in the table;
#  - no error message raised in src/ops names a CLI flag ("--") or verb
#    ("hkms "): ops speaks of request fields;
#  - no code in src/ops raises "usage" (the CLI face's own code).
# Usage: error_registry.pl SRCDIR. Prints each problem; exit 1 if any.
use strict;
use warnings;

my $root = shift // '.';
my (%reg, @bad);

open(my $fh, '<', "$root/include/hkms/errors.def") or die "errors.def: $!";
while (<$fh>) {
	next unless /^HKMS_ERROR\("([a-z0-9_]+)",\s*(HKMS_E_[A-Z_]+),\s*(\d+),\s*"[^"]+"\)\s*$/;
	push @bad, "errors.def: '$1' listed twice" if exists $reg{$1};
	$reg{$1} = $2;
}
close $fh;
die "errors.def: no rows parsed\n" if keys(%reg) < 50;

sub slurp { my ($f) = @_; open(my $h, '<', $f) or die "$f: $!"; local $/; my $s = <$h>; close $h; return $s; }

# The arguments of the call whose '(' is at $pos in $s, split at top-level
# commas (strings, chars and nested parens respected); stops after $max.
sub call_args {
	my ($s, $pos, $max) = @_;
	my ($depth, $cur, @args) = (0, '', ());
	my $i = $pos + 1;
	while ($i < length($s)) {
		my $ch = substr($s, $i, 1);
		if ($ch eq '"' || $ch eq "'") {
			my $j = $i + 1;
			while ($j < length($s) && substr($s, $j, 1) ne $ch) {
				$j++ if substr($s, $j, 1) eq '\\';
				$j++;
			}
			$cur .= substr($s, $i, $j - $i + 1);
			$i = $j + 1;
			next;
		}
		if ($ch eq '(') { $depth++; }
		elsif ($ch eq ')') {
			if ($depth == 0) { push @args, $cur; return @args; }
			$depth--;
		} elsif ($ch eq ',' && $depth == 0) {
			push @args, $cur; $cur = '';
			return @args if @args >= $max;
			$i++; next;
		}
		$cur .= $ch;
		$i++;
	}
	return @args;
}

sub line_of { my ($s, $pos) = @_; return 1 + (substr($s, 0, $pos) =~ tr/\n//); }

my %seen;
my @files = grep { !$seen{$_}++ } map { chomp; $_ } `cd '$root' && git ls-files 'src/*.c' 'hsm/*.c' 2>/dev/null`;
@files = map { s{^\./}{}r } split /\n/, `cd '$root' && find src hsm -name '*.c'` unless @files;
my $ncalls = 0;
for my $f (@files) {
	next if $f eq 'src/common/error.c';
	my $s = slurp("$root/$f");
	my %def;
	$def{$1} = $2 while $s =~ /#define\s+([A-Z_]+)\s+"([a-z0-9_]+)"/g;
	while ($s =~ /\bhkms_err_setc\s*\(/g) {
		my $at = pos($s) - 1;
		my @a = call_args($s, $at, 4);
		my $where = "$f:" . line_of($s, $at);
		next if @a < 3;
		$ncalls++;
		my ($rcx, $codex) = ($a[1], $a[2]);
		my @codes = $codex =~ /"([a-z0-9_]+)"/g;
		push @codes, $def{$1} if $codex =~ /^\s*([A-Z_]+)\s*$/ && $def{$1};
		my @rcs = $rcx =~ /\b(HKMS_E_[A-Z_]+)\b/g;
		for my $c (@codes) {
			if (!exists $reg{$c}) {
				push @bad, "$where: code '$c' is not in include/hkms/errors.def";
			} elsif (@rcs == 1 && @codes == 1 && $rcs[0] ne $reg{$c}) {
				push @bad, "$where: code '$c' raised with $rcs[0], the registry says $reg{$c}";
			}
			push @bad, "$where: src/ops raises 'usage' (the CLI face's code)"
			    if $c eq 'usage' && $f =~ m{^src/ops/};
		}
	}
	# ops messages: request fields, never flags or verbs
	next unless $f =~ m{^src/ops/};
	while ($s =~ /\bhkms_err_(set|setc|crypto)\s*\(/g) {
		my $first = { set => 2, setc => 3, crypto => 1 }->{$1};
		my $at = pos($s) - 1;
		my @a = call_args($s, $at, 99);
		my $msg = join('', map { join('', /"((?:[^"\\]|\\.)*)"/g) }
		    @a[$first .. $#a]);
		push @bad, "$f:" . line_of($s, $at) . ": message names a CLI flag or verb: \"$msg\""
		    if $msg =~ /--|\bhkms /;
	}
}
push @bad, "found only $ncalls hkms_err_setc calls: the parser is broken" if $ncalls < 200;

my $v = slurp("$root/src/x509/verify.c");
for my $c ($v =~ /\{\s*X509_V_ERR_[A-Z_]+,\s*"([a-z0-9_]+)"\s*\}/g) {
	push @bad, "src/x509/verify.c: verification code '$c' is not in the registry"
	    unless exists $reg{$c};
}
my $e = slurp("$root/src/common/error.c");
while ($e =~ /case\s+(HKMS_E_[A-Z_]+):\s*return\s+"([a-z_]+)"/g) {
	if (!exists $reg{$2}) { push @bad, "hkms_strerror: '$2' is not in the registry"; }
	elsif ($reg{$2} ne $1) { push @bad, "hkms_strerror: '$2' is $1, the registry says $reg{$2}"; }
}
print "$_\n" for @bad;
printf "error registry: %d codes, %d hkms_err_setc calls checked, %d problems\n",
    scalar(keys %reg), $ncalls, scalar(@bad);
exit(@bad ? 1 : 0);
